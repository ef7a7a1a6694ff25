"""A service-level objective: per-request latency limits, the share of requests that must meet
them, and the error rate a level may have.

A request is *good* by `vllm bench serve --goodput`'s rules (vllm/benchmarks/serve.py,
calculate_metrics): it succeeded and every limit given holds, inclusively (value <= limit); a
limit not given is not checked; an answer of one token has no time per output token, and vLLM
counts its TPOT as 0, so it meets any TPOT limit. Goodput is good requests per second, over the
span the level's throughput is measured on (vLLM: over the benchmark's duration). Attainment is
good requests over every request the level measured, failed ones included: a failure is a
request the stack did not serve within its SLO.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

LIMITS = ("ttft_ms", "tpot_ms", "e2e_ms")


def good(
    limits: Mapping[str, float],
    ok: bool,
    ttft_ms: float | None,
    tpot_ms: float | None,
    e2e_ms: float | None,
    output_tokens: int,
) -> bool:
    """Did one request meet these per-request limits (vLLM's goodput rule)?"""
    if not ok:
        return False
    if output_tokens <= 1:
        tpot_ms = 0.0  # vLLM: "if output_len <= 1, we regard tpot as 0 for goodput"
    measured = {"ttft_ms": ttft_ms, "tpot_ms": tpot_ms, "e2e_ms": e2e_ms}
    return all(
        (value := measured[name]) is not None and value <= limit for name, limit in limits.items()
    )


def parse_option(text: str) -> dict[str, float]:
    """The limits a --lab-slo option of the Locust user carries ('' for none)."""
    return {name: float(value) for name, value in json.loads(text).items()} if text else {}


@dataclass(frozen=True)
class Slo:
    ttft_ms: float | None
    tpot_ms: float | None
    e2e_ms: float | None
    attainment: float  # share of a level's requests that must be good, in (0, 1]
    max_error_rate: float  # share of a level's requests that may fail

    def limits(self) -> dict[str, float]:
        """The per-request limits given, by name."""
        return {name: value for name in LIMITS if (value := getattr(self, name)) is not None}

    def option(self) -> str:
        """The per-request limits as the Locust user's --lab-slo takes them."""
        return json.dumps(self.limits(), separators=(",", ":"))

    def met(self, attainment: float | None, error_rate: float) -> bool:
        """Did a level meet the SLO: enough good requests, few enough errors?"""
        return (
            attainment is not None
            and attainment >= self.attainment
            and error_rate <= self.max_error_rate
        )

    def latency_bound_ms(self, output_tokens: int) -> float | None:
        """The longest a request meeting every limit can take, when the limits say it."""
        if self.e2e_ms is not None:
            return self.e2e_ms
        if self.ttft_ms is not None and self.tpot_ms is not None:
            return self.ttft_ms + self.tpot_ms * max(0, output_tokens - 1)
        return None

    def to_json(self) -> dict[str, float | None]:
        return asdict(self)
