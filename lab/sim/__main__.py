"""`python -m lab.sim --port P [options]`: one simulated engine, until SIGTERM."""

from __future__ import annotations

import argparse
import sys

from lab.sim.options import DEFAULT_MODEL, FAULTS, SimOptions, default_name


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="python -m lab.sim",
        description="A simulated vLLM engine (OpenAI API, vLLM metrics) on a known timeline: "
        "a test and benchmark double, never a measurement of vLLM.",
    )
    add = made.add_argument
    add("--port", type=int, default=8000, help="0: pick a free port (printed on stdout)")
    add("--host", default="127.0.0.1")
    add("--name", default=None, help="x-lab-engine header (default: $LAB_ENGINE_NAME or sim)")
    add("--served-model-name", default=DEFAULT_MODEL)
    add("--ttft-ms", type=float, default=0.0, help="admission to first token")
    add("--tpot-ms", type=float, default=0.0, help="time between tokens")
    add("--ttft-per-prompt-token-ms", type=float, default=0.0, help="prefill per uncached token")
    add("--max-batch", type=int, default=0, help="requests generating at once (0: no limit)")
    add("--kv-blocks", type=int, default=4096, help="KV blocks (prefix-cache LRU size)")
    add("--block-size", type=int, default=16)
    add("--no-prefix-caching", dest="prefix_caching", action="store_false")
    add("--max-model-len", type=int, default=2048)
    add("--eos-after", type=int, default=None, help="stop by itself after N tokens")
    for fault, what in FAULTS.items():
        add(f"--{fault.replace('_', '-')}", type=float, default=0.0, help=f"share of {what}")
    add("--send-log", default=None, help="write one JSON line per request with chunk times")
    return made


def options(argv: list[str] | None = None) -> tuple[SimOptions, int]:
    """(options, port) from a command line."""
    args = vars(parser().parse_args(argv))
    port = args.pop("port")
    args["name"] = args["name"] or default_name()
    return SimOptions(**args), port


def main(argv: list[str] | None = None) -> int:
    sim_options, port = options(argv)
    from lab.sim import server  # aiohttp only once the arguments are good

    return server.main(sim_options, port)


if __name__ == "__main__":
    sys.exit(main())
