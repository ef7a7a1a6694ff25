"""engine_series.csv: what the engines, the router and the load generator said about themselves
once a second during each level (lab.load.gauges samples it), and what each level's series says
saturated: engine queues, KV cache, the load generator's CPU.

One row per value: time (Unix seconds, one per sampling round), level, source (an engine's name,
`router` or `load-generator`), metric, value. Metrics: an engine's `running` and `waiting`
requests and `kv_cache_usage` (0-1; vLLM's gauges), the router's `running` requests where it
exports them, the load generator's `cpu` (share of one core).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

FILE = "engine_series.csv"
COLUMNS = ("time", "level", "source", "metric", "value")
ROUTER = "router"
LOAD_GENERATOR = "load-generator"
NOT_ENGINES = (ROUTER, LOAD_GENERATOR)


def read(path: Path) -> list[dict[str, Any]]:
    """Every row, with time and value as numbers; none when the file does not exist."""
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return [
            {**row, "time": float(row["time"]), "value": float(row["value"])}
            for row in csv.DictReader(file)
        ]


def totals(rows: list[dict[str, Any]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(times, sum over engines) of one engine metric, one point per sampling round."""
    summed: dict[float, float] = defaultdict(float)
    for row in rows:
        if row["metric"] == metric and row["source"] not in NOT_ENGINES:
            summed[row["time"]] += row["value"]
    times = np.array(sorted(summed))
    return times, np.array([summed[t] for t in times])


def figures(
    rows: list[dict[str, Any]], level: str, span: tuple[float, float] | None = None
) -> dict[str, float | None]:
    """A level's saturation figures: the most requests running and waiting in the engines at
    once (and waiting on average), the highest KV-cache usage of any engine, the most requests
    the router held, and the load generator's median CPU (a share of one core). Only rounds
    within `span` (the level's first request to its last answer) count, when given: not the
    load generator starting or stopping."""
    mine = [row for row in rows if row["level"] == level]
    if span is not None:
        mine = [row for row in mine if span[0] <= row["time"] <= span[1]]
    _, running = totals(mine, "running")
    _, waiting = totals(mine, "waiting")
    kv = [r["value"] for r in mine if r["metric"] == "kv_cache_usage"]
    router = [r["value"] for r in mine if r["source"] == ROUTER and r["metric"] == "running"]
    cpu = [r["value"] for r in mine if r["source"] == LOAD_GENERATOR and r["metric"] == "cpu"]
    return {
        "max_running": float(running.max()) if running.size else None,
        "max_waiting": float(waiting.max()) if waiting.size else None,
        "mean_waiting": float(waiting.mean()) if waiting.size else None,
        "max_kv_cache_usage": max(kv) if kv else None,
        "router_max_running": max(router) if router else None,
        "load_generator_cpu": float(np.median(cpu)) if cpu else None,
    }
