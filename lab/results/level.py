"""A level's figures as one type, `Figures`: what lab.results.summary computes from a level's
requests and the engines' counters, and what report, compare and the terminal line read.

Each figure has one name in code, compare's (ttft_p50, tpot_mean, ...); `key` gives the key
summary.json has always written for it (p50_ttft_ms, mean_tpot_ms, ...), and `to_json` the
level's figures in summary.json's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LATENCIES = ("ttft", "tpot", "itl", "e2e")  # of requests.csv's <name>_ms columns
PERCENTILES = (50, 90, 99)
STATISTICS = ("mean", *(f"p{p}" for p in PERCENTILES))


def key(name: str) -> str:
    """The summary.json key of a figure: ttft_p50 -> p50_ttft_ms, ttft_mean -> mean_ttft_ms,
    ttft_p50_per_engine -> p50_ttft_ms_per_engine; any other figure is its own key."""
    latency, _, rest = name.partition("_")
    statistic, _, tail = rest.partition("_")
    if latency in LATENCIES and statistic in STATISTICS:
        return f"{statistic}_{latency}_ms" + (f"_{tail}" if tail else "")
    return name


@dataclass(frozen=True)
class Figures:
    """The figures of one level's requests (summary.json holds them, and what other steps add:
    the load offered, the client's, the gauges', a resilience scenario's)."""

    requests: int
    completed: int
    failed: int
    drained: int
    error_rate: float
    duration_s: float
    requests_per_s: float
    output_tokens_per_s: float
    mean_prompt_tokens: float
    mean_output_tokens: float
    errors: dict[str, int]
    failures: dict[str, int]  # failed requests by class (requests.csv's failure)
    slo_attainment: float | None
    goodput_rps: float | None
    latency: dict[str, float | None]  # by name: ttft_mean, ttft_p50, ... (STATISTICS)
    requests_per_engine: dict[str, int]
    engine_balance: float | None
    busiest_engine_share: float | None
    session_stickiness: float | None
    # A routing logic is judged on latency too: one overloaded engine shows here.
    ttft_p50_per_engine: dict[str, float]
    ttft_p50_by_round: dict[str, float] | None  # conversations only (a routing scenario)
    prefix_cache_hit_rate: float | None
    request_cache_hit_rate: float | None

    def to_json(self) -> dict[str, Any]:
        """The figures under summary.json's keys, in its order."""
        out: dict[str, Any] = {
            "requests": self.requests,
            "completed": self.completed,
            "failed": self.failed,
            "drained": self.drained,
            "error_rate": self.error_rate,
            "duration_s": self.duration_s,
            "requests_per_s": self.requests_per_s,
            "output_tokens_per_s": self.output_tokens_per_s,
            "mean_prompt_tokens": self.mean_prompt_tokens,
            "mean_output_tokens": self.mean_output_tokens,
            "errors": self.errors,
            "failures": self.failures,
            "slo_attainment": self.slo_attainment,
            "goodput_rps": self.goodput_rps,
        }
        for latency in LATENCIES:
            for statistic in STATISTICS:
                name = f"{latency}_{statistic}"
                out[key(name)] = self.latency[name]
        out.update(
            requests_per_engine=self.requests_per_engine,
            engine_balance=self.engine_balance,
            busiest_engine_share=self.busiest_engine_share,
            session_stickiness=self.session_stickiness,
        )
        out[key("ttft_p50_per_engine")] = self.ttft_p50_per_engine
        if self.ttft_p50_by_round is not None:
            out[key("ttft_p50_by_round")] = self.ttft_p50_by_round
        out.update(
            prefix_cache_hit_rate=self.prefix_cache_hit_rate,
            request_cache_hit_rate=self.request_cache_hit_rate,
        )
        return out
