"""soak_series.csv and soak.json: what a soak scenario sampled while it ran (lab.load.soak
writes the series) and what was judged of it (lab.compare.soak computes the verdicts, which
lab.load.soak writes here); the report draws the series and states the verdicts.

soak_series.csv: one row per value: time (Unix seconds), source, metric, value. Sources are
the lab's processes (`router`, each engine by name, `locust`), each with `rss_mb` (its
resident memory with its children's, MB) and `open_fds` (open file descriptors, its children's
included); and `requests`, once a minute: `ttft_p50_ms`, `ttft_p99_ms`, `e2e_p50_ms` and
`count` of the requests that ended in that minute.
"""

from __future__ import annotations

import json
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lab import files
from lab.errors import ConfigError
from lab.results import plots, summary

FILE = "soak_series.csv"
VERDICTS = "soak.json"
COLUMNS = ("time", "source", "metric", "value")
REQUESTS = "requests"  # the source of the latency per minute
MEMORY, FDS = "rss_mb", "open_fds"
LATENCY = ("ttft_p50_ms", "ttft_p99_ms", "e2e_p50_ms", "count")


def read(path: Path) -> list[dict[str, Any]]:
    """Every row, with time and value as numbers; none when the file does not exist."""
    if not path.exists():
        return []
    rows = []
    for line, row in files.csv_rows(path, FILE, COLUMNS):
        try:
            numbers = {c: summary.finite(row[c], c) for c in ("time", "value")}
        except ValueError as exc:
            raise ConfigError(f"{path}: line {line}: {exc}") from None
        rows.append({**row, **numbers})
    return rows


def per_source(rows: list[dict[str, Any]], metric: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{source: (times, values)} of one metric, in time order."""
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        if row["metric"] == metric:
            found[row["source"]].append((row["time"], row["value"]))
    return {
        source: (np.array([t for t, _ in sorted(points)]), np.array([v for _, v in sorted(points)]))
        for source, points in found.items()
    }


def write_verdicts(place: Path, verdicts: dict[str, Any]) -> None:
    (place / VERDICTS).write_text(json.dumps(verdicts, indent=2) + "\n")


def read_verdicts(place: Path) -> dict[str, Any] | None:
    path = place / VERDICTS
    if not path.exists():
        return None
    found = files.read_json(path, VERDICTS)
    if not isinstance(found, dict):
        raise ConfigError(f"{path}: expected an object")
    return found


def plot(rows: list[dict[str, Any]], t0: float) -> str:
    """Each process's memory and open files, and the latency of each minute, over the soak."""
    memory = per_source(rows, MEMORY)
    if not memory:
        return ""
    fig = Figure(figsize=(7, 7))
    mem_ax, fd_ax, lat_ax = fig.subplots(3, 1, sharex=True)
    for source, (times, values) in sorted(memory.items()):
        mem_ax.plot((times - t0) / 60, values, label=source)
    for source, (times, values) in sorted(per_source(rows, FDS).items()):
        fd_ax.plot((times - t0) / 60, values, label=source)
    for metric in LATENCY[:3]:
        times, values = per_source([r for r in rows if r["source"] == REQUESTS], metric).get(
            REQUESTS, (np.array([]), np.array([]))
        )
        lat_ax.plot((times - t0) / 60, values, marker=".", label=metric)
    mem_ax.set(title="Soak: memory, open files and latency", ylabel="RSS (MB)")
    fd_ax.set(ylabel="open fds")
    lat_ax.set(ylabel="ms (per minute)", xlabel="minutes since the first request")
    for ax in (mem_ax, fd_ax, lat_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    return plots.png(fig)


def section(verdicts: dict[str, Any] | None) -> str:
    """A soak's memory slopes (after its warm-up), latency drift and requests lost."""
    if verdicts is None:
        return ""
    rows = "".join(
        f"<tr><td>{escape(source)}</td><td>{s['mb_per_h']:+.1f}</td>"
        f"<td>{s['low']:+.1f} to {s['high']:+.1f}</td><td>{s['samples']}</td></tr>"
        if s
        else f"<tr><td>{escape(source)}</td><td colspan=3>too few samples</td></tr>"
        for source, s in verdicts["slopes"].items()
    )
    gate = "".join(f"<p class='bad'>{escape(line)}</p>" for line in verdicts["gate_failures"])
    counted = verdicts["requests"]
    return (
        f"<h3>Soak</h3><p>Memory slope after {verdicts['warmup_s']} s of warm-up (Theil–Sen, "
        f"90% moving-block bootstrap interval, blocks of {verdicts['block_s']:g} s):</p>"
        f"<table><tr><th>process</th><th>MB/h</th><th>90% interval</th><th>samples</th></tr>"
        f"{rows}</table>{gate}{_drift(verdicts['drift'])}"
        f"<p>Requests: Locust counted {counted['locust_count']}, requests.csv holds "
        f"{counted['rows']} ({counted['failed_rows']} failed), the engines served "
        f"{counted['engines_served']:g}.</p>"
    )


def _drift(drift: dict[str, Any]) -> str:
    """Each latency percentile of the first window against the last, with its interval."""
    if drift.get("window_s") is None:
        return f"<p>Latency drift: {escape(str(drift.get('note')))}</p>"
    items = []
    for metric, title in (("ttft_ms", "TTFT"), ("e2e_ms", "E2E")):
        for q, c in drift[metric].items():
            if "ratio" not in c:
                items.append(f"<li>{title} {q}: {escape(str(c.get('note')))}</li>")
                continue
            low, high = c["ratio_interval"]
            up = " <b>drifted up</b>" if c["drifted_up"] else ""
            items.append(
                f"<li>{title} {q}: {c['first']:.1f} → {c['last']:.1f} ms (×{c['ratio']:.2f}, "
                f"90% interval ×{low:.2f} to ×{high:.2f}){up}</li>"
            )
    return (
        f"<p>Latency drift: the first {drift['window_s']:g} s of requests ({drift['first']}) "
        f"against the last ({drift['last']}):</p><ul>{''.join(items)}</ul>"
    )
