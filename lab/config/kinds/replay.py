"""replay: a recorded trace or conversation dataset sent as it was (lab.traces reads it): at its
own timestamps (timed, divided by speedup), as Poisson arrivals at each rate, or closed loop at
each concurrency; a level each. Its sessions keep their turns in order, each on one Locust
process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.config.kinds.base import FIXED_GATE, LEVEL, Engines, Kind, Problem, register
from lab.config.kinds.plan import Level, open_loop_users
from lab.config.slo import Slo

LOCUSTFILE = "replay.py"


@dataclass(frozen=True)
class ReplayScenario:
    name: str
    kind: str
    source: str
    format: str
    mode: str  # timed | rate | concurrency
    speedup: float
    rates: tuple[float, ...]
    concurrency: tuple[int, ...]
    users: int  # open-loop users of timed and rate levels
    sample: Any  # {"sessions": N} or {"requests": N}, or None: all
    seed: int | None
    max_requests: int | None
    duration: int
    output_tokens: Any  # "from-trace" or a number
    block_tokens: int
    truncate: bool
    slo: Slo | None

    @property
    def fixed_output(self) -> int | None:
        return None if self.output_tokens == "from-trace" else int(self.output_tokens)

    @property
    def sampled(self) -> tuple[str, int] | None:
        if not self.sample:
            return None
        unit, count = next(iter(dict(self.sample).items()))
        return unit, int(count)


@register
class Replay(Kind):
    name = "replay"
    options = ReplayScenario
    figures = (LEVEL,)
    gated = (*FIXED_GATE, "prefix_cache_hit_rate")

    @classmethod
    def problems(cls, scenario: ReplayScenario, engines: Engines) -> list[Problem]:
        """A fixed output length fits the engines' context (each prompt is checked against it
        once the trace is read, before the load)."""
        fixed = scenario.fixed_output
        if fixed is not None and fixed >= engines.max_model_len:
            return [
                (
                    ".output_tokens",
                    f"expected fewer than engine.max_model_len "
                    f"({engines.max_model_len}) tokens, got {fixed}",
                )
            ]
        return []

    @classmethod
    def levels(cls, scenario: ReplayScenario) -> list[Level]:
        s = scenario
        if s.mode == "timed":
            return [
                Level(
                    "timed",
                    LOCUSTFILE,
                    s.users,
                    s.users,
                    s.duration,
                    {"--lab-mode": "timed", "--lab-speedup": f"{s.speedup:g}"},
                )
            ]
        if s.mode == "rate":
            return [
                Level(
                    f"rate{rate:g}",
                    LOCUSTFILE,
                    users := max(s.users, open_loop_users(rate)),
                    users,
                    s.duration,
                    {"--lab-mode": "rate", "--lab-rate": str(float(rate))},
                )
                for rate in s.rates
            ]
        return [
            Level(f"c{c}", LOCUSTFILE, c, c, s.duration, {"--lab-mode": "concurrency"})
            for c in s.concurrency
        ]
