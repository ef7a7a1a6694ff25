"""The engines' counters around a level (counters), and sampling what fills up while it runs:
once a second, the engines' running and waiting requests and KV-cache usage, and the router's
running requests (where it exports them), appended to <scenario>/engine_series.csv
(lab.results.series reads it). The load generator's CPU is measured by its own processes,
wherever they run (lab.inproc.swarm: client_cpu.csv).
"""

from __future__ import annotations

import contextlib
import csv
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx

from lab.console import note
from lab.load import background
from lab.results import series
from lab.stack import metrics
from lab.stack.endpoints import Endpoints, Engine

INTERVAL = 1.0  # seconds between sampling rounds
IDLE_TIMEOUT = 60.0  # seconds to wait for engines to finish what an earlier level left them


@contextlib.contextmanager
def sampling(endpoints: Endpoints, path: Path, level: str) -> Iterator[None]:
    """Sample in a background thread for the duration of the block."""
    with background.beside(_sample, endpoints, path, level):
        yield


def _sample(endpoints: Endpoints, path: Path, level: str, stop: threading.Event) -> None:
    new = not path.exists()
    with path.open("a", newline="") as file, httpx.Client(timeout=2) as client:
        writer = csv.writer(file)
        if new:
            writer.writerow(series.COLUMNS)
        due = time.monotonic() + INTERVAL
        while not stop.wait(max(0.0, due - time.monotonic())):
            due += INTERVAL
            now = f"{time.time():.3f}"
            for source, metric, value in _round(endpoints, client):
                writer.writerow([now, level, source, metric, f"{value:.4g}"])
            file.flush()


def _round(endpoints: Endpoints, client: httpx.Client) -> Iterator[tuple[str, str, float]]:
    """(source, metric, value) of one sampling round; whatever does not answer is left out."""
    for engine in endpoints.engines:
        yield from _gauges(engine.name, engine.metrics, metrics.ENGINE_GAUGES, client)
    if endpoints.router_metrics:
        yield from _gauges(series.ROUTER, endpoints.router_metrics, metrics.ROUTER_GAUGES, client)


def _gauges(
    source: str, url: str, names: dict[str, str], client: httpx.Client
) -> Iterator[tuple[str, str, float]]:
    try:
        snapshot = metrics.scrape(url, client)
    except httpx.HTTPError:
        return
    for metric, value in metrics.gauges(snapshot, names).items():
        yield source, metric, value


def wait_idle(endpoints: Endpoints, timeout: float = IDLE_TIMEOUT) -> None:
    """Wait until no engine runs or queues a request, at most `timeout` seconds (then say so);
    an engine that does not answer counts as idle."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while (busy := _busy(endpoints, client)) and time.monotonic() < deadline:
            time.sleep(0.5)
    if busy:
        note(f"engines still busy with {busy:.0f} requests after {timeout:.0f} s; going on")


def _busy(endpoints: Endpoints, client: httpx.Client) -> float:
    """Requests the engines run or queue, all told."""
    rounds = (_gauges(e.name, e.metrics, metrics.ENGINE_GAUGES, client) for e in endpoints.engines)
    return sum(
        value for found in rounds for _, name, value in found if name in ("running", "waiting")
    )


def counters(engines: Iterable[Engine]) -> dict[str, dict[str, float]]:
    """The engines' counters under the names results give them, read before and after a level;
    an engine that does not answer counts nothing."""

    def silent(engine: Engine) -> None:
        note(f"{engine.name}: /metrics did not answer; its counters are left out")

    with httpx.Client(timeout=5) as client:
        return metrics.named(metrics.engine_counters(engines, client, silent))
