"""A simulated vLLM engine: the one fake OpenAI-compatible server the tests and benchmarks share.

It speaks vLLM's OpenAI API (completions and chat, streaming or not, token-ID prompts), exports
vLLM's metric names, tags responses with `x-lab-engine`, and follows a timeline set on its
command line (TTFT, TPOT, batch slots, a prefix cache), optionally logging when each chunk was
sent. It is a test and benchmark double: never a stand-in where the lab claims to measure vLLM.

    python -m lab.sim --port 8001 --ttft-ms 50 --tpot-ms 10 --max-batch 8

    with running(SimOptions(ttft_ms=50, tpot_ms=10)) as sim:
        httpx.get(f"{sim.url}/v1/models")
"""

from lab.sim.options import SimOptions
from lab.sim.process import SimEngine, SimStartError, running

__all__ = ["SimEngine", "SimOptions", "SimStartError", "running"]
