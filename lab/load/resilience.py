"""Resilience scenarios: events injected into the stack while Locust keeps loading it.

failover: kill one engine as a crash would, later restart it. scale: add a replica, later
remove it (it leaves the router and drains first). The events, with the wall-clock times they
began and ended, go to events.csv; the router's view of its workers is sampled every second to
router.csv; the figures come from the per-request samples.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from lab.config.profile import FailoverScenario, Profile, SteadyLoadScenario
from lab.console import say
from lab.results import summary
from lab.stack import state
from lab.stack.endpoints import Engine
from lab.stack.state import State

EVENT_COLUMNS = ("time", "event", "detail")
ROUTER_COLUMNS = ("time", "worker", "healthy", "load")


@dataclass(frozen=True)
class Event:
    at: int  # seconds after the load generator starts
    name: str  # kill, restart, scale-up, scale-down
    action: Callable[[], str]


def plan(scenario: SteadyLoadScenario, platform: Any, current: State,
         profile: Profile) -> list[Event]:  # fmt: skip
    """The events of a scenario, as calls on the platform's operations."""
    if isinstance(scenario, FailoverScenario):
        engine = scenario.engine
        return [
            Event(scenario.kill_at, "kill", lambda: platform.kill_engine(current, engine)),
            Event(
                scenario.restart_at,
                "restart",
                lambda: platform.restart_engine(current, engine, profile),
            ),
        ]
    replicas = profile.engine.replicas

    def scale(to: int) -> Callable[[], str]:
        def act() -> str:
            platform.scale(current, to, profile)
            return f"{to} replicas: {', '.join(e.name for e in current.endpoints.engines)}"

        return act

    return [
        Event(scenario.up_at, "scale-up", scale(replicas + 1)),
        Event(scenario.down_at, "scale-down", scale(replicas)),
    ]


def inject(events: list[Event], began: float, place: Path, current: State) -> None:
    """Run the events at their times, writing events.csv as they happen, and sample the
    router's workers meanwhile. An event that ends late (an engine can take minutes to load on
    a busy machine) delays the next one: it keeps its planned spacing after the late one."""
    stop = threading.Event()
    sampler = threading.Thread(
        target=_sample_router, args=(current, place / "router.csv", stop), daemon=True
    )
    sampler.start()
    try:
        with (place / "events.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(EVENT_COLUMNS)
            previous_at, previous_done = 0, began
            for event in events:
                due = max(began + event.at, previous_done + event.at - previous_at)
                time.sleep(max(0.0, due - time.time()))
                writer.writerow([f"{time.time():.3f}", event.name, "begin"])
                file.flush()
                say(f"⚡ {event.name} at {time.time() - began:.0f} s")
                detail = event.action()
                previous_at, previous_done = event.at, time.time()
                writer.writerow([f"{previous_done:.3f}", f"{event.name} done", detail])
                file.flush()
                state.save(current)
    finally:
        stop.set()
        sampler.join(timeout=5)


def _sample_router(current: State, path: Path, stop: threading.Event) -> None:
    """vllm-router's GET /workers every second: which workers it considers healthy."""
    with path.open("w", newline="") as file, httpx.Client(timeout=2) as client:
        writer = csv.writer(file)
        writer.writerow(ROUTER_COLUMNS)
        while not stop.wait(1.0):
            try:
                workers = client.get(f"{current.endpoints.router}/workers").json()["workers"]
            except (httpx.HTTPError, ValueError, KeyError):
                continue  # not every router has this API (the chart's does not)
            now = f"{time.time():.3f}"
            for worker in workers:
                writer.writerow([now, worker["url"], worker["is_healthy"], worker.get("load", "")])
            file.flush()


def read_events(path: Path) -> list[tuple[float, str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return [(float(r["time"]), r["event"], r["detail"]) for r in csv.DictReader(file)]


def figures(place: Path, samples: list[summary.Sample], kind: str, engine: Engine | None) -> dict:
    """Failover (of `engine`) or scale figures from the samples and the recorded events."""
    events = {name: when for when, name, _ in read_events(place / "events.csv")}
    if kind == "failover" and engine is not None:
        return failover_figures(samples, events, engine, place / "router.csv")
    return scale_figures(samples, events)


def failover_figures(
    samples: list[summary.Sample], events: dict[str, float], engine: Engine, router_csv: Path
) -> dict:
    """Requests failed (and why), failover time (kill until no request fails any more),
    recovery time (restart until the engine serves again), TTFT before, during and after."""
    killed = events.get("kill", float("inf"))
    restarted = events.get("restart", float("inf"))
    failures = [s for s in samples if not s.ok and s.start >= killed - 1]
    last_failure = max((s.end for s in failures), default=killed)
    served_again = min(
        (s.start for s in samples if s.ok and s.engine == engine.name and s.start >= restarted),
        default=None,
    )
    recovered = served_again if served_again is not None else float("inf")
    out: dict[str, Any] = {
        "failed_after_kill": len(failures),
        "failure_errors": _errors(failures),
        "failover_time_s": max(0.0, last_failure - killed) if killed < float("inf") else None,
        "recovery_time_s": recovered - restarted if served_again is not None else None,
        "ttft_p50_before_ms": _median_ttft(samples, lambda s: s.start < killed),
        "ttft_p50_during_ms": _median_ttft(samples, lambda s: killed <= s.start < recovered),
        "ttft_p50_after_ms": _median_ttft(samples, lambda s: s.start >= recovered),
        "router_marked_unhealthy_after_s": _router_unhealthy(router_csv, engine.url, killed),
    }
    return out


def scale_figures(samples: list[summary.Sample], events: dict[str, float]) -> dict:
    """Time until the added replica serves, its share of requests while it runs, and errors
    while it is removed."""
    up = events.get("scale-up", float("inf"))
    down = events.get("scale-down", float("inf"))
    down_done = events.get("scale-down done", down)
    engines_before = {s.engine for s in samples if s.ok and s.start < up and s.engine}
    new = [s for s in samples if s.ok and s.start >= up and s.engine not in engines_before]
    first_new = min((s.start for s in new), default=None)
    window = [s for s in samples if s.ok and first_new is not None and first_new <= s.start < down]
    share = sum(1 for s in window if s in new) / len(window) if window else None
    during_down = [s for s in samples if not s.ok and down <= s.start <= down_done + 5]
    return {
        "new_engine": new[0].engine if new else None,
        "time_to_first_request_s": first_new - up if first_new is not None else None,
        "time_to_first_request_after_added_s": (
            first_new - events["scale-up done"]
            if first_new is not None and "scale-up done" in events
            else None
        ),
        "new_engine_share": share,
        "failed_during_scale_down": len(during_down),
        "scale_down_errors": _errors(during_down),
        "failed_total": sum(1 for s in samples if not s.ok),
    }


def _errors(failures: list[summary.Sample]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in failures:
        counts[s.error[:80]] = counts.get(s.error[:80], 0) + 1
    return counts


def _median_ttft(samples: list[summary.Sample], keep: Callable[[summary.Sample], bool]):
    values = [s.ttft_ms for s in samples if s.ok and s.ttft_ms is not None and keep(s)]
    return float(np.median(values)) if values else None


def _router_unhealthy(path: Path, worker: str, killed: float) -> float | None:
    """Seconds from the kill until the router first listed the engine's worker unhealthy."""
    if not path.exists() or killed == float("inf"):
        return None
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            when = float(row["time"])
            if when >= killed and row["worker"] == worker and row["healthy"] == "False":
                return when - killed
    return None
