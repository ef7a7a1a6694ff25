"""The one drain procedure: how an engine leaves a running stack without losing a request.

The rule. The engine leaves the router first (nothing new is sent to it). Then the drain waits
until none of the in-flight signals its platform declares shows a request in flight to that
engine, on two reads in a row, bounded by DRAIN_TIMEOUT; only then may the engine stop. When the
bound runs out the drain says so (which signals still counted what) and the engine stops anyway.

The signals a platform can have, each counting requests sent to that engine and not yet
answered to the end:
- "router": vllm-router's own count per worker (lab.stack.router), kept only under the
  policies that balance on load (cache_aware, power_of_two), removed workers included;
- "middleware": the lab's engine middleware's open requests (lab.inproc.engine_tag), on engines
  the lab starts with it: it sees a request from the moment the API server takes it until its
  last byte is written;
- "engine": the engine's `vllm:num_requests_running` + `vllm:num_requests_waiting` gauges,
  which miss requests the API server holds before the engine core sees them.

A signal that cannot be read (the engine no longer answers, the router does not count) shows
nothing in flight: an engine that does not answer finishes nothing either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from lab.inproc.engine_tag import OPEN_PATH
from lab.stack import metrics
from lab.stack.endpoints import Engine
from lab.stack.router import Router

DRAIN_TIMEOUT = 120.0  # seconds; the same bound on every platform
INTERVAL = 0.2
QUIET_READS = 2  # reads in a row that must show nothing in flight
SIGNALS = ("router", "middleware", "engine")
RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"

Reader = Callable[[], float | None]


@dataclass(frozen=True)
class Drained:
    """How a drain went: `complete` False when the bound ran out first."""

    engine: str
    began: float  # wall clock
    seconds: float
    complete: bool
    signals: tuple[str, ...]
    last: dict[str, float | None] = field(default_factory=dict)  # the last reading of each

    @property
    def line(self) -> str:
        used = ", ".join(self.signals) or "no signal"
        if self.complete:
            return f"{self.engine} drained in {self.seconds:.1f} s ({used})"
        busy = ", ".join(f"{name} {value:g}" for name, value in self.last.items() if value)
        return (
            f"{self.engine}: drain bound of {self.seconds:.0f} s ran out with requests still in "
            f"flight ({busy}); stopping it anyway"
        )

    def to_json(self) -> dict:
        return {
            "engine": self.engine,
            "began": self.began,
            "seconds": round(self.seconds, 3),
            "complete": self.complete,
            "signals": list(self.signals),
            "last": self.last,
        }


def readers(
    declared: Sequence[str], engine: Engine, worker_url: str, router: Router | None
) -> dict[str, Reader]:
    """The readers of the signals a platform declares it has (a subset of SIGNALS), for one
    engine: `engine` as the lab reaches it, `worker_url` as the router knows it. The router's
    count is left out where its policy keeps none."""
    unknown = set(declared) - set(SIGNALS)
    if unknown:
        raise ValueError(f"unknown drain signals {sorted(unknown)}; expected some of {SIGNALS}")
    found: dict[str, Reader] = {}
    if "router" in declared and router is not None and router.counts_load:
        found["router"] = lambda: router.in_flight(worker_url)
    if "middleware" in declared:
        found["middleware"] = lambda: open_requests(engine)
    if "engine" in declared:
        found["engine"] = lambda: engine_gauges(engine)
    return found


def drain(
    engine: str,
    signals: dict[str, Reader],
    timeout: float = DRAIN_TIMEOUT,
    interval: float = INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Drained:
    """Wait until no signal shows a request in flight, QUIET_READS reads in a row, or until
    `timeout` seconds have passed."""
    began_wall, began = time.time(), clock()
    quiet = 0
    last: dict[str, float | None] = {}
    while True:
        last = {name: read() for name, read in signals.items()}
        quiet = quiet + 1 if not any(last.values()) else 0
        elapsed = clock() - began
        if quiet >= QUIET_READS:
            return Drained(engine, began_wall, elapsed, True, tuple(signals), last)
        if elapsed >= timeout:
            return Drained(engine, began_wall, elapsed, False, tuple(signals), last)
        sleep(interval)


def open_requests(engine: Engine) -> float | None:
    """The engine middleware's count of open API requests; None when it does not answer."""
    try:
        answer = httpx.get(f"{engine.url}{OPEN_PATH}", timeout=5.0)
        answer.raise_for_status()
        return float(answer.json()["open"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def engine_gauges(engine: Engine) -> float | None:
    """Requests running or waiting in the engine; None when it does not answer."""
    try:
        snapshot = metrics.scrape(engine.metrics)
    except httpx.HTTPError:
        return None
    return snapshot.get(RUNNING, 0.0) + snapshot.get(WAITING, 0.0)
