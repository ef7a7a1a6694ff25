"""soak: one constant open-loop rate for a long `duration` (hours allowed), while the memory and
open files of the router, each engine and Locust are sampled every `interval` seconds
(lab.load.soak); its verdicts (lab.compare.soak) are each process's memory slope after the
warm-up, the latency drift from the first window to the last, and whether any request was lost.
`max_growth_mb_per_h` makes the slope a gate."""

from __future__ import annotations

from dataclasses import dataclass

from lab.config.kinds.base import LEVEL, Engines, Kind, Problem, register
from lab.config.kinds.plan import Level, arrivals, lengths, open_loop_users
from lab.config.slo import Slo

LEVEL_NAME = "soak"


@dataclass(frozen=True)
class SoakScenario:
    name: str
    kind: str
    rate: float
    duration: int
    prompt_tokens: int
    output_tokens: int
    warmup: int  # seconds left out of the memory slope: caches and pools filling
    interval: float  # seconds between samples of memory and open files
    max_growth_mb_per_h: float | None
    seed: int | None
    slo: Slo | None


@register
class Soak(Kind):
    name = "soak"
    options = SoakScenario
    figures = (LEVEL,)
    # Hours of one load: judged by its own slope and drift, not against another run.
    ungated = (
        "judged by its own memory slope and latency drift (lab.compare.soak), "
        "not against another run"
    )

    @classmethod
    def problems(cls, scenario: SoakScenario, engines: Engines) -> list[Problem]:
        """The slope needs samples after the warm-up: the load must outlast it."""
        if scenario.duration <= scenario.warmup:
            return [
                (
                    ".duration",
                    f"{scenario.duration} s is not longer than the warm-up "
                    f"({scenario.warmup} s); expected duration > warmup",
                )
            ]
        return []

    @classmethod
    def levels(cls, scenario: SoakScenario) -> list[Level]:
        s = scenario
        users = open_loop_users(s.rate)
        options = {**lengths(s.prompt_tokens, s.output_tokens), **arrivals(s.rate)}
        return [Level(LEVEL_NAME, "throughput.py", users, users, s.duration, options)]
