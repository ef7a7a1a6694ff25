"""Open-loop arrivals: one schedule of request times, shared by every user of a level, and dealt
out to the Locust processes that run it.

A schedule is made from (rate, burstiness, seed) alone, so every process makes the same one;
process `index` of `count` takes every count-th arrival from its index-th, and together they
send the whole schedule: a Poisson process stays a Poisson process, whatever the number of
processes. Gaps follow `vllm bench serve --burstiness`: gamma with shape `burstiness` and mean
1/rate (1: Poisson; below 1 burstier; above 1 more regular; inf: constant).

Each request claims the next arrival and waits for it. When every user is busy at an arrival,
the next free user sends late; that lag is recorded per request, so a client too small for the
rate shows up in the results (and flags the level client_limited) instead of silently turning
the test into a closed loop.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Iterator


def gaps(rate: float, burstiness: float = 1.0, seed: int = 0) -> Iterator[float]:
    """Seconds between consecutive arrivals, endlessly."""
    if rate <= 0 or burstiness <= 0:
        raise ValueError(f"rate and burstiness must be positive, got {rate} and {burstiness}")
    if math.isinf(burstiness):
        yield from itertools.repeat(1 / rate)
        return
    rng = random.Random(seed)
    while True:
        yield rng.gammavariate(burstiness, 1 / (rate * burstiness))


def schedule(rate: float, burstiness: float = 1.0, seed: int = 0) -> Iterator[float]:
    """Arrival times in seconds from the schedule's start, endlessly."""
    return itertools.accumulate(gaps(rate, burstiness, seed))


def share(times: Iterator[float], index: int, count: int) -> Iterator[float]:
    """Process `index`'s share of a schedule dealt out to `count` processes."""
    return itertools.islice(times, index, None, count)


class Pacer:
    """The arrivals of one Locust process, on its monotonic clock."""

    def __init__(self) -> None:
        self.times: Iterator[float] | None = None
        self.origin = 0.0

    def start(
        self,
        rate: float,
        burstiness: float = 1.0,
        seed: int = 0,
        index: int = 0,
        count: int = 1,
    ) -> None:
        """Begin, now, share `index` of `count` of a schedule. Rate 0: no schedule, a closed
        loop."""
        self.times = share(schedule(rate, burstiness, seed), index, count) if rate else None
        self.origin = time.monotonic()

    def claim(self) -> float:
        """The monotonic time of this process's next arrival (now, in a closed loop)."""
        if self.times is None:
            return time.monotonic()
        return self.origin + next(self.times)
