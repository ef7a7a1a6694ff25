"""capacity: the highest open-loop rate that meets the SLO, found by doubling, then bisection;
a level per step, planned as the search goes (lab.load.capacity)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lab.config.kinds.base import CAPACITY, LEVEL, Kind, register
from lab.config.kinds.plan import Level, arrivals, lengths
from lab.config.slo import Slo

MAX_USERS = 1000
UNBOUNDED_S = 10.0  # seconds a request may take when the SLO does not bound its latency


@dataclass(frozen=True)
class CapacityScenario:
    """The highest open-loop rate that meets the SLO, found by doubling, then bisection."""

    name: str
    kind: str
    start_rate: float
    max_rate: float
    precision: float
    duration: int
    budget: int
    prompt_tokens: int
    output_tokens: int
    seed: int | None
    slo: Slo | None  # never None once the profile is loaded: a search needs one
    burstiness: float = 1.0  # gamma shape of the gaps, as a throughput scenario's


@register
class Capacity(Kind):
    name = "capacity"
    options = CapacityScenario
    figures = (LEVEL, CAPACITY)
    # Its steps' rates are wherever each run's search went, so two runs share few of them, and
    # those they share are often overloaded: the search is judged by its capacity_rps alone.
    gated = ("capacity_rps",)
    searches = True


def level(s: CapacityScenario, rate: float, again: bool = False) -> Level:
    """One step of a capacity search: open-loop arrivals at `rate` for the scenario's
    duration; `again` for the second probe of a rate (lab.load.capacity)."""
    users = users_for(rate, s)
    options = {**lengths(s.prompt_tokens, s.output_tokens), **arrivals(rate, s.burstiness)}
    # All users at once: a schedule must not wait for users still joining (lag is measured).
    name = f"rate{rate:g}" + ("-again" if again else "")
    return Level(name, "throughput.py", users, users * 10, s.duration, options)


def users_for(rate: float, s: CapacityScenario) -> int:
    """Users enough for twice the requests that can be in flight at `rate` while every one of
    them meets the SLO (Little's law), so that the users run out only where the SLO has
    failed: a level passing its SLO with requests sent late was held back by its generator."""
    assert s.slo is not None
    bound_ms = s.slo.latency_bound_ms(s.output_tokens)
    seconds = bound_ms / 1000 if bound_ms is not None else UNBOUNDED_S
    return min(MAX_USERS, max(4, math.ceil(2 * rate * seconds)))
