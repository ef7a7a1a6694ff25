"""The figures of resilience scenarios, from a level's per-request samples and the two files
the injection (lab.load.resilience) writes beside them: events.csv (each event, with the
wall-clock times it began and ended, and each drain with how long it took) and router.csv
(vllm-router's view of its workers, once a second). Their columns are defined here, as
lab.results.series defines engine_series.csv's, so a saved folder can be read again later.

A failure belongs to an event by the engine it was on and when it broke (its end), not by when
it was sent: a request sent before a scale-down and cut by it is the scale-down's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lab import files
from lab.errors import ConfigError
from lab.results import fault_figures, summary
from lab.stack.endpoints import Engine

EVENTS_FILE = "events.csv"
EVENT_COLUMNS = ("time", "event", "detail")
ROUTER_FILE = "router.csv"
ROUTER_COLUMNS = ("time", "worker", "healthy", "load")


def drain_rows(drained: dict) -> list[list[str]]:
    """events.csv rows of one drain: when it began, when it ended and how (`drains` reads
    them back)."""
    ended = drained["began"] + drained["seconds"]
    how = "complete" if drained["complete"] else "bound ran out"
    return [
        [f"{drained['began']:.3f}", "drain", drained["engine"]],
        [f"{ended:.3f}", "drain done", f"{drained['engine']} {drained['seconds']:.3f} s {how}"],
    ]


def read_events(path: Path) -> list[tuple[float, str, str]]:
    """events.csv's rows as (time, event, detail); none when the file does not exist."""
    if not path.exists():
        return []
    return [
        (_number(path, line, row, "time"), row["event"], row.get("detail", ""))
        for line, row in files.csv_rows(path, EVENTS_FILE, EVENT_COLUMNS[:2])
    ]


def _number(path: Path, line: int, row: dict[str, str], column: str) -> float:
    """A column's finite number; a ConfigError names the file and line where it is not."""
    try:
        return summary.finite(row[column], column)
    except ValueError as exc:
        raise ConfigError(f"{path}: line {line}: {exc}") from None


def figures(place: Path, samples: list[summary.Sample], kind: str, engine: Engine | None) -> dict:
    """Failover (of `engine`), faults (lab.results.fault_figures) or scale figures from the
    samples and the recorded events."""
    recorded = read_events(place / EVENTS_FILE)
    events = {name: when for when, name, _ in recorded}
    if kind == "faults":
        found = fault_figures.figures(samples, recorded)
        return {"faults": found, "failed_total": sum(1 for s in samples if not s.ok)}
    if kind == "failover" and engine is not None:
        return failover_figures(samples, events, engine, place / ROUTER_FILE)
    added = next((detail for _, name, detail in recorded if name == "added"), None)
    return scale_figures(samples, events, drains(recorded), added)


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
    samples: list[summary.Sample],
    events: dict[str, float],
    drained: list[dict] | None = None,
    added: str | None = None,
) -> dict:
    """Time until the `added` replica serves, its share of requests while it runs; for the
    removal: how many requests were in flight on the removed engine when it was removed, how
    long its drain took, and the requests that broke on it (by end time) while it was removed."""
    up = events.get("scale-up", float("inf"))
    down = events.get("scale-down", float("inf"))
    down_done = events.get("scale-down done", down)
    new = [s for s in samples if s.ok and s.start >= up and s.engine == added] if added else []
    first_new = min((s.start for s in new), default=None)
    window = [s for s in samples if s.ok and first_new is not None and first_new <= s.start < down]
    share = sum(1 for s in window if s in new) / len(window) if window else None
    drain = drained[-1] if drained else None
    removed = drain["engine"] if drain else (added or "")
    cut = [s for s in on(samples, removed) if not s.ok and down <= s.end <= down_done + 5]
    open_then = [s for s in samples if s.engine == removed and s.start <= down < s.end]
    return {
        "new_engine": added,
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
    for line, row in files.csv_rows(path, ROUTER_FILE, ROUTER_COLUMNS[:3]):
        when = _number(path, line, row, "time")
        if when >= killed and row["worker"] == worker and row["healthy"] == "False":
            return when - killed
    return None
