"""Resilience scenarios: events injected into the stack while Locust keeps loading it.

failover: kill one engine as a crash would, later restart it. faults: timed faults
(lab.load.faults). scale: add a replica, later remove it (it leaves the router and drains
first, lab.stack.drain). The events, with the wall-clock times they began and ended, and
each drain with how long it took, go to events.csv; the router's view of its workers is
sampled every second to router.csv. What they did to the requests is computed from those
files afterwards (lab.results.resilience_figures).
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

from lab import platforms
from lab.config.kinds import FailoverScenario, FaultsScenario, ScaleScenario
from lab.config.kinds.steady import SteadyLoadScenario
from lab.config.profile import Profile
from lab.console import say
from lab.load import faults
from lab.results import resilience_figures
from lab.stack import state, status
from lab.stack.endpoints import Endpoints
from lab.stack.router import Router
from lab.stack.state import State

# vllm-router's default --health-success-threshold, which the lab leaves as it is.
ROUTER_SUCCESS_CHECKS = 2


@dataclass(frozen=True)
class Event:
    at: int  # seconds after the load generator starts
    name: str  # kill, restart, scale-up, scale-down, a fault (`hang engine-1`, its `... end`)
    action: Callable[[], str]


def plan(
    scenario: SteadyLoadScenario, platform: Any, current: State, profile: Profile
) -> list[Event]:
    """The events of a scenario, as calls on the platform's operations."""
    if isinstance(scenario, FaultsScenario):
        return [Event(*event) for event in faults.events(scenario, platform, current, profile)]
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
    router_csv = place / resilience_figures.ROUTER_FILE
    sampler = threading.Thread(target=_sample_router, args=(current, router_csv, stop), daemon=True)
    sampler.start()
    try:
        with (place / resilience_figures.EVENTS_FILE).open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(resilience_figures.EVENT_COLUMNS)
            previous_at, previous_done = 0, began
            for event in events:
                due = max(began + event.at, previous_done + event.at - previous_at)
                time.sleep(max(0.0, due - time.time()))
                begun = time.time()
                writer.writerow([f"{begun:.3f}", event.name, "begin"])
                file.flush()
                say(f"⚡ {event.name} at {begun - began:.0f} s")
                before = _engine_names(current)
                detail = event.action()
                previous_at, previous_done = event.at, time.time()
                # Which engine an event added is recorded, not guessed from who served later.
                for name in sorted(_engine_names(current) - before):
                    writer.writerow([f"{previous_done:.3f}", "added", name])
                for drained in platforms.details(current).drains:
                    if drained.began >= begun:
                        writer.writerows(resilience_figures.drain_rows(drained.to_json()))
                writer.writerow([f"{previous_done:.3f}", f"{event.name} done", detail])
                file.flush()
                state.save(current)
    finally:
        stop.set()
        sampler.join(timeout=5)


def await_router(endpoints: Endpoints, interval: int) -> None:
    """Wait until the router takes back every engine that answers its own /health: vllm-router
    does so after ROUTER_SUCCESS_CHECKS health checks in a row, `interval` seconds apart, the
    first of them up to an interval away. Without a /workers API, wait that long."""
    if interval <= 0:
        return
    deadline = time.time() + (ROUTER_SUCCESS_CHECKS + 1) * interval
    router = Router(endpoints.router)
    with httpx.Client(timeout=2) as client:
        while time.time() < deadline:
            try:
                taken = sum(w.healthy for w in router.workers(client))
            except (httpx.HTTPError, ValueError):
                time.sleep(max(0.0, deadline - time.time()))
                return
            # Counted, not matched by URL: a router in a container knows its engines by
            # other names than the lab does.
            if taken >= sum(status.answers(client, f"{e.url}/health") for e in endpoints.engines):
                return
            time.sleep(1.0)


def _engine_names(current: State) -> set[str]:
    return {engine.name for engine in current.require_endpoints().engines}


def _sample_router(current: State, path: Path, stop: threading.Event) -> None:
    """vllm-router's GET /workers every second: which workers it considers healthy."""
    router = Router(current.require_endpoints().router)
    with path.open("w", newline="") as file, httpx.Client(timeout=2) as client:
        writer = csv.writer(file)
        writer.writerow(resilience_figures.ROUTER_COLUMNS)
        while not stop.wait(1.0):
            try:
                workers = router.workers(client)
            except (httpx.HTTPError, ValueError):
                continue  # not every router has this API (the chart's does not)
            now = f"{time.time():.3f}"
            for worker in workers:
                writer.writerow([now, worker.url, worker.healthy, worker.load])
            file.flush()
