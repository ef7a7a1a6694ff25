"""engine_series.csv: what the engines and the router said about themselves once a second
during each level (lab.load.gauges samples it), and what each level's series says saturated:
engine queues, KV cache. (The load generator's CPU is its own file: lab.results.summary.)

One row per value: time (Unix seconds, one per sampling round), level, source (an engine's name,
or `router`), metric, value. Metrics: an engine's `running` and `waiting` requests and
`kv_cache_usage` (0-1; vLLM's gauges), the router's `running` requests where it exports them.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from lab import files
from lab.errors import ConfigError
from lab.results import summary

FILE = "engine_series.csv"
COLUMNS = ("time", "level", "source", "metric", "value")
ROUTER = "router"


def read(path: Path) -> list[dict[str, Any]]:
    """Every row, with time and value as numbers; none when the file does not exist."""
    if not path.exists():
        return []
    return [
        {
            **row,
            "time": _number(path, line, row, "time"),
            "value": _number(path, line, row, "value"),
        }
        for line, row in files.csv_rows(path, FILE, ("time", "value"))
    ]


def _number(path: Path, line: int, row: dict[str, str], column: str) -> float:
    try:
        return summary.finite(row[column], column)
    except ValueError as exc:
        raise ConfigError(f"{path}: line {line}: {exc}") from None


def totals(rows: list[dict[str, Any]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(times, sum over engines) of one engine metric, one point per sampling round."""
    summed: dict[float, float] = defaultdict(float)
    for row in rows:
        if row["metric"] == metric and row["source"] != ROUTER:
            summed[row["time"]] += row["value"]
    times = np.array(sorted(summed))
    return times, np.array([summed[t] for t in times])


def figures(
    rows: list[dict[str, Any]], level: str, span: tuple[float, float] | None = None
) -> dict[str, float | None]:
    """A level's saturation figures: the most requests running and waiting in the engines at
    once (and waiting on average), the highest KV-cache usage of any engine, and the most
    requests the router held. Only rounds within `span` (the level's first request to its last
    answer) count, when given: not the load generator starting or stopping."""
    mine = [row for row in rows if row["level"] == level]
    if span is not None:
        mine = [row for row in mine if span[0] <= row["time"] <= span[1]]
    _, running = totals(mine, "running")
    _, waiting = totals(mine, "waiting")
    kv = [r["value"] for r in mine if r["metric"] == "kv_cache_usage"]
    router = [r["value"] for r in mine if r["source"] == ROUTER and r["metric"] == "running"]
    return {
        "max_running": float(running.max()) if running.size else None,
        "max_waiting": float(waiting.max()) if waiting.size else None,
        "mean_waiting": float(waiting.mean()) if waiting.size else None,
        "max_kv_cache_usage": max(kv) if kv else None,
        "router_max_running": max(router) if router else None,
    }
