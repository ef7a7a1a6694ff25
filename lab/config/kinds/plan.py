"""The parts of a level plan every scenario kind shares: a Level (one Locust run) and the
options of open-loop arrivals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Level:
    """One Locust run: a locustfile at a given load for a given time."""

    name: str
    locustfile: str
    users: int
    spawn_rate: float
    run_time: int
    options: dict[str, str] = field(default_factory=dict)
    # Levels with events: load for at least `minimum` s, and `settle` s after the last event.
    minimum: int = 0
    settle: int = 0

    @property
    def rate(self) -> float | None:
        """Offered requests/s of an open-loop level; None for a closed loop."""
        rate = self.options.get("--lab-rate")
        return float(rate) if rate else None


def lengths(prompt_tokens: int, output_tokens: int) -> dict[str, str]:
    """The Locust options of fixed-length prompts and answers."""
    return {"--lab-prompt-tokens": str(prompt_tokens), "--lab-output-tokens": str(output_tokens)}


def arrivals(rate: float, burstiness: float = 1.0) -> dict[str, str]:
    """The Locust options of open-loop arrivals at `rate` requests/s, gaps of gamma shape
    `burstiness` (1: Poisson), for every open-loop level of every scenario kind: one schedule
    (lab.inproc.poisson), dealt out to the workers of a distributed level."""
    options = {"--lab-rate": str(float(rate))}
    if burstiness != 1:
        options["--lab-burstiness"] = str(float(burstiness))
    return options


def open_loop_users(rate: float) -> int:
    """Enough users that Poisson arrivals are seldom late (lateness is recorded per request
    anyway)."""
    return min(100, max(4, math.ceil(rate * 3)))
