"""Resilience scenarios: events injected into the stack while Locust keeps loading it.

failover: kill one engine as a crash would, later restart it. scale: add a replica, later
remove it (it leaves the router and drains first, lab.stack.drain). The events, with the
wall-clock times they began and ended, and each drain with how long it took, go to events.csv;
the router's view of its workers is sampled every second to router.csv; the figures come from
the per-request samples.

A failure belongs to an event by the engine it was on and when it broke (its end), not by when
it was sent: a request sent before a scale-down and cut by it is the scale-down's.
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

from lab.config.profile import FailoverScenario, Profile, ScaleScenario, SteadyLoadScenario
from lab.console import say
from lab.results import summary
from lab.stack import state
from lab.stack.endpoints import Engine
from lab.stack.router import Router
from lab.stack.state import State

EVENT_COLUMNS = ("time", "event", "detail")
ROUTER_COLUMNS = ("time", "worker", "healthy", "load")


@dataclass(frozen=True)
class Event:
    at: int  # seconds after the load generator starts
    name: str  # kill, restart, scale-up, scale-down
    action: Callable[[], str]


def plan(
    scenario: SteadyLoadScenario, platform: Any, current: State, profile: Profile
) -> list[Event]:
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
    assert isinstance(scenario, ScaleScenario)  # a steady-load scenario is one or the other
    replicas = profile.engine.replicas

    def scale(to: int) -> Callable[[], str]:
        def act() -> str:
            platform.scale(current, to, profile)
            engines = current.require_endpoints().engines
            return f"{to} replicas: {', '.join(e.name for e in engines)}"

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
                begun = time.time()
                writer.writerow([f"{begun:.3f}", event.name, "begin"])
                file.flush()
                say(f"⚡ {event.name} at {begun - began:.0f} s")
                detail = event.action()
                previous_at, previous_done = event.at, time.time()
                for drained in current.details.get("drains", []):
                    if drained["began"] >= begun:
                        writer.writerows(_drain_rows(drained))
                writer.writerow([f"{previous_done:.3f}", f"{event.name} done", detail])
                file.flush()
                state.save(current)
    finally:
        stop.set()
        sampler.join(timeout=5)


def _drain_rows(drained: dict) -> list[list[str]]:
    """events.csv rows of one drain: when it began, when it ended and how."""
    ended = drained["began"] + drained["seconds"]
    how = "complete" if drained["complete"] else "bound ran out"
    return [
        [f"{drained['began']:.3f}", "drain", drained["engine"]],
        [f"{ended:.3f}", "drain done", f"{drained['engine']} {drained['seconds']:.3f} s {how}"],
    ]


def _sample_router(current: State, path: Path, stop: threading.Event) -> None:
    """vllm-router's GET /workers every second: which workers it considers healthy."""
    router = Router(current.require_endpoints().router)
    with path.open("w", newline="") as file, httpx.Client(timeout=2) as client:
        writer = csv.writer(file)
        writer.writerow(ROUTER_COLUMNS)
        while not stop.wait(1.0):
            try:
                workers = router.workers(client)
            except (httpx.HTTPError, ValueError):
                continue  # not every router has this API (the chart's does not)
            now = f"{time.time():.3f}"
            for worker in workers:
                writer.writerow([now, worker.url, worker.healthy, worker.load])
            file.flush()


def read_events(path: Path) -> list[tuple[float, str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return [(float(r["time"]), r["event"], r["detail"]) for r in csv.DictReader(file)]


def figures(place: Path, samples: list[summary.Sample], kind: str, engine: Engine | None) -> dict:
    """Failover (of `engine`) or scale figures from the samples and the recorded events."""
    recorded = read_events(place / "events.csv")
    events = {name: when for when, name, _ in recorded}
    if kind == "failover" and engine is not None:
        return failover_figures(samples, events, engine, place / "router.csv")
    return scale_figures(samples, events, drains(recorded))


def drains(recorded: list[tuple[float, str, str]]) -> list[dict[str, Any]]:
    """The drains events.csv recorded: engine, began, seconds, complete."""
    found = []
    for when, name, detail in recorded:
        if name == "drain done":
            engine, seconds, *how = detail.split()
            found.append(
                {
                    "engine": engine,
                    "began": when - float(seconds),
                    "seconds": float(seconds),
                    "complete": " ".join(how[1:]) == "complete",
                }
            )
    return found


def on(samples: list[summary.Sample], engine: str) -> list[summary.Sample]:
    """The samples an event on `engine` may have cut: those that engine answered, and those
    no engine answered (the router's own errors say no engine)."""
    return [s for s in samples if s.engine in (engine, "")]


def failover_figures(
    samples: list[summary.Sample], events: dict[str, float], engine: Engine, router_csv: Path
) -> dict:
    """Requests the kill failed (on the killed engine, broken after the kill) and why, failover
    time (kill until the last of them broke), recovery time (restart until the engine serves
    again), TTFT before, during and after."""
    killed = events.get("kill", float("inf"))
    restarted = events.get("restart", float("inf"))
    failures = [s for s in on(samples, engine.name) if not s.ok and s.end >= killed]
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
        "failed_total": sum(1 for s in samples if not s.ok),
    }
    return out


def scale_figures(
    samples: list[summary.Sample], events: dict[str, float], drained: list[dict] | None = None
) -> dict:
    """Time until the added replica serves, its share of requests while it runs; for the
    removal: how many requests were in flight on the removed engine when it was removed, how
    long its drain took, and the requests that broke on it (by end time) while it was removed."""
    up = events.get("scale-up", float("inf"))
    down = events.get("scale-down", float("inf"))
    down_done = events.get("scale-down done", down)
    engines_before = {s.engine for s in samples if s.ok and s.start < up and s.engine}
    new = [s for s in samples if s.ok and s.start >= up and s.engine not in engines_before]
    first_new = min((s.start for s in new), default=None)
    window = [s for s in samples if s.ok and first_new is not None and first_new <= s.start < down]
    share = sum(1 for s in window if s in new) / len(window) if window else None
    drain = drained[-1] if drained else None
    removed = drain["engine"] if drain else (new[0].engine if new else "")
    cut = [s for s in on(samples, removed) if not s.ok and down <= s.end <= down_done + 5]
    open_then = [s for s in samples if s.engine == removed and s.start <= down < s.end]
    return {
        "new_engine": new[0].engine if new else None,
        "time_to_first_request_s": first_new - up if first_new is not None else None,
        "time_to_first_request_after_added_s": (
            first_new - events["scale-up done"]
            if first_new is not None and "scale-up done" in events
            else None
        ),
        "new_engine_share": share,
        "removed_engine": removed or None,
        "in_flight_at_scale_down": len(open_then),
        "finished_after_scale_down": sum(1 for s in open_then if s.ok),
        "drain_s": drain["seconds"] if drain else None,
        "drain_complete": drain["complete"] if drain else None,
        "failed_during_scale_down": len(cut),
        "scale_down_errors": _errors(cut),
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
