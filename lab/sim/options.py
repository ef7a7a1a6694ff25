"""What a simulated engine is told on its command line, as one dataclass the CLI and the
Python API share (SimOptions.argv() is the command line; `python -m lab.sim` parses it back).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_MODEL = "lab:tiny-llama"
# Faults a share of requests meet, each its own requests (lab.sim.server.Sim.fault), spread
# evenly and the same on every run: for the tests of how the Locust user classifies a failure.
FAULTS = {
    "error_share": "requests answered with HTTP 500",
    "hold_share": "requests held before their answer's headers, until the client leaves",
    "cut_share": "streams whose connection is cut halfway",
    "stall_share": "streams that stop sending halfway, until the client leaves",
    "garble_share": "streams whose first chunk is not JSON",
}


def default_name() -> str:
    """The engine's name: LAB_ENGINE_NAME, as the lab sets for real engines, else "sim"."""
    return os.environ.get("LAB_ENGINE_NAME") or "sim"


@dataclass(frozen=True)
class SimOptions:
    """Times in milliseconds. ttft_ms counts from admission into a batch slot; a request that
    waits for a slot (beyond max_batch running ones) waits on top of it. max_batch 0 means no
    limit. eos_after: the model stops by itself after that many tokens (unless ignore_eos or
    min_tokens say otherwise); None: it always runs to max_tokens."""

    name: str | None = None
    served_model_name: str = DEFAULT_MODEL
    host: str = "127.0.0.1"
    ttft_ms: float = 0.0
    tpot_ms: float = 0.0
    ttft_per_prompt_token_ms: float = 0.0
    max_batch: int = 0
    kv_blocks: int = 4096
    block_size: int = 16
    prefix_caching: bool = True
    max_model_len: int = 2048
    eos_after: int | None = None
    send_log: str | None = None
    error_share: float = 0.0
    hold_share: float = 0.0
    cut_share: float = 0.0
    stall_share: float = 0.0
    garble_share: float = 0.0

    @property
    def engine_name(self) -> str:
        return self.name or default_name()

    def argv(self) -> list[str]:
        """The `python -m lab.sim` arguments that mean these options (no --port)."""
        args = [
            *("--name", self.engine_name),
            *("--served-model-name", self.served_model_name),
            *("--host", self.host),
            *("--ttft-ms", str(self.ttft_ms)),
            *("--tpot-ms", str(self.tpot_ms)),
            *("--ttft-per-prompt-token-ms", str(self.ttft_per_prompt_token_ms)),
            *("--max-batch", str(self.max_batch)),
            *("--kv-blocks", str(self.kv_blocks)),
            *("--block-size", str(self.block_size)),
            *("--max-model-len", str(self.max_model_len)),
        ]
        for fault in FAULTS:
            if share := getattr(self, fault):
                args += [f"--{fault.replace('_', '-')}", str(share)]
        if not self.prefix_caching:
            args.append("--no-prefix-caching")
        if self.eos_after is not None:
            args += ["--eos-after", str(self.eos_after)]
        if self.send_log is not None:
            args += ["--send-log", str(self.send_log)]
        return args
