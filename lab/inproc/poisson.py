"""Open-loop arrivals for Locust users: one Poisson schedule shared by every user of a process.

Each request claims the next arrival time and waits for it. When every user is busy at an
arrival, the next free user sends late; that lag is recorded per request, so a client too small
for the rate shows up in the results instead of silently turning the test into a closed loop.
"""

from __future__ import annotations

import random
import time


class Pacer:
    def __init__(self) -> None:
        self.rate = 0.0
        self.next = 0.0
        self.rng = random.Random()

    def start(self, rate: float, seed: int | None = None) -> None:
        """Begin a schedule of `rate` arrivals per second (0: no schedule, closed loop)."""
        self.rate = rate
        self.next = time.monotonic()
        self.rng = random.Random(seed)

    def claim(self) -> float:
        """The monotonic time of the next arrival (now, in a closed loop)."""
        if not self.rate:
            return time.monotonic()
        self.next += self.rng.expovariate(self.rate)
        return self.next
