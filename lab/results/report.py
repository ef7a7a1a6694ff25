"""report.html of a results folder: a summary table and plots (matplotlib, embedded as PNG).

Rendered from the folder's files only, so a saved run can be re-rendered any time
(`python -m lab report RESULTS`).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot state, no display needed

from lab.results import summary

COLUMNS = (
    ("completed", "ok", "{:.0f}"),
    ("failed", "failed", "{:.0f}"),
    ("requests_per_s", "req/s", "{:.2f}"),
    ("output_tokens_per_s", "out tok/s", "{:.0f}"),
    ("p50_ttft_ms", "TTFT p50", "{:.1f}"),
    ("p90_ttft_ms", "TTFT p90", "{:.1f}"),
    ("p99_ttft_ms", "TTFT p99", "{:.1f}"),
    ("p50_tpot_ms", "TPOT p50", "{:.2f}"),
    ("p50_itl_ms", "ITL p50", "{:.2f}"),
    ("p50_e2e_ms", "E2E p50", "{:.1f}"),
    ("p99_e2e_ms", "E2E p99", "{:.1f}"),
    ("prefix_cache_hit_rate", "prefix hits", "{:.0%}"),
    ("session_stickiness", "stickiness", "{:.0%}"),
    ("engine_balance", "balance", "{:.2f}"),
    ("client_cpu_busiest", "client CPU", "{:.2f}"),
    ("lag_p99_ms", "lag p99", "{:.0f}"),
)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 48%; margin: 0.5%; border: 1px solid #eee; }
.meta { color: #555; font-size: 0.9em; }
.bad { color: #b00; }
"""


def write(folder: Path) -> Path:
    """Render folder/report.html from the folder's manifest and files."""
    manifest = json.loads((folder / "manifest.json").read_text())
    parts = [_header(manifest)]
    for entry in manifest["scenarios"]:
        parts.append(_scenario(folder, entry))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(folder.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    out = folder / "report.html"
    out.write_text(page)
    return out


def _header(manifest: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
    host = manifest["host"]
    return (
        f"<h1>{_e(manifest['profile_name'])} on {_e(manifest['platform'])}</h1>"
        f"<p class='meta'>{_e(manifest['started'])} → {_e(str(manifest['ended']))} · status "
        f"<b>{_e(manifest['status'])}</b> · routing {_e(manifest['endpoints']['routing'])} over "
        f"{len(manifest['endpoints']['engines'])} engines<br>{_e(versions)}<br>"
        f"{_e(host['cpu_model'])}, {host['cpu_count']} cores, {host['memory_gib']} GiB · "
        f"commit {_e(str(manifest['git_commit'])[:12])}</p>"
    )


def _scenario(folder: Path, entry: dict[str, Any]) -> str:
    place = folder / entry["name"]
    title = f"<h2>{_e(entry['name'])} ({_e(entry['kind'])}): {_e(entry['status'])}</h2>"
    if entry["error"]:
        title += f"<p class='bad'>{_e(entry['error'])}</p>"
    samples_file = place / "requests.csv"
    if not samples_file.exists():
        return title + "<p>No request was measured.</p>"
    samples = summary.read_samples(samples_file)
    figures = _figures(place)
    images = [
        _cdf(samples, "ttft_ms", "TTFT"),
        _cdf(samples, "e2e_ms", "End-to-end latency"),
        _over_time(samples, folder),
        _per_engine(figures),
    ]
    if entry["kind"] == "routing":
        images.append(_by_round(samples))
    return (
        title
        + _table(figures)
        + _resilience(figures)
        + "".join(f"<img src='data:image/png;base64,{img}'>" for img in images if img)
    )


def _figures(place: Path) -> dict[str, dict[str, Any]]:
    file = place / "summary.json"
    return json.loads(file.read_text())["levels"] if file.exists() else {}


def _table(figures: dict[str, dict[str, Any]]) -> str:
    head = "<tr><th>level</th>" + "".join(f"<th>{label}</th>" for _, label, _ in COLUMNS) + "</tr>"
    rows = []
    for level, values in figures.items():
        cells = []
        for key, _, fmt in COLUMNS:
            value = values.get(key)
            cells.append(f"<td>{'-' if value is None else fmt.format(value)}</td>")
        rows.append(f"<tr><td>{_e(level)}</td>{''.join(cells)}</tr>")
    note = (
        "<p class='meta'>Latencies in ms, from raw per-request samples. Client CPU: the busiest "
        "Locust process, in cores; lag: how late requests left after their scheduled time.</p>"
    )
    limited = "".join(
        f"<p class='bad'>{_e(level)}: client-limited, its figures are the load generator's: "
        f"{_e(values['client_limited'])}</p>"
        for level, values in figures.items()
        if values.get("client_limited")
    )
    return f"<table>{head}{''.join(rows)}</table>{note}{limited}"


RESILIENCE = (
    "failed_after_kill", "failure_errors", "failover_time_s", "recovery_time_s",
    "ttft_p50_before_ms", "ttft_p50_during_ms", "ttft_p50_after_ms",
    "router_marked_unhealthy_after_s", "new_engine", "time_to_first_request_s",
    "time_to_first_request_after_added_s", "new_engine_share", "failed_during_scale_down",
    "scale_down_errors", "failed_total",
)  # fmt: skip


def _resilience(figures: dict[str, dict[str, Any]]) -> str:
    """Failover and scale figures, where the level has them (times in seconds)."""
    rows = []
    for values in figures.values():
        for key in RESILIENCE:
            if key in values:
                value = values[key]
                shown = f"{value:.2f}" if isinstance(value, float) else str(value)
                rows.append(f"<tr><td>{_e(key)}</td><td>{_e(shown)}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def _levels(samples: list[summary.Sample]) -> list[str]:
    return list(dict.fromkeys(s.level for s in samples))


def _cdf(samples: list[summary.Sample], metric: str, title: str) -> str:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for level in _levels(samples):
        data = np.sort(summary.values([s for s in samples if s.level == level], metric))
        if data.size:
            ax.plot(data, np.arange(1, data.size + 1) / data.size, label=level)
    ax.set(title=f"{title} (CDF)", xlabel="ms", ylabel="share of requests")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    return _png(fig)


def _over_time(samples: list[summary.Sample], folder: Path) -> str:
    """Completed requests per second and TTFT over the run, failures and events marked."""
    t0 = min(s.start for s in samples)
    fig = Figure(figsize=(6, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    ends = np.array([s.end - t0 for s in samples if s.ok])
    if ends.size:
        edges = np.arange(0, ends.max() + 2, 1.0)
        top.plot(edges[:-1], np.histogram(ends, edges)[0], drawstyle="steps-post", label="ok")
    failed = np.array([s.start - t0 for s in samples if not s.ok])
    if failed.size:
        edges = np.arange(0, failed.max() + 2, 1.0)
        top.plot(
            edges[:-1], np.histogram(failed, edges)[0], "r", drawstyle="steps-post", label="failed"
        )
    top.set(title="Throughput and TTFT over time", ylabel="requests/s")
    top.legend()
    ok = [s for s in samples if s.ok and s.ttft_ms is not None]
    bottom.scatter([s.start - t0 for s in ok], [s.ttft_ms for s in ok], s=4)
    bottom.set(xlabel="seconds since the first request", ylabel="TTFT ms")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        for when, label in _events(folder, t0):
            axis.axvline(when, color="k", linestyle="--", linewidth=0.8)
            if axis is top:
                axis.annotate(label, (when, 0), rotation=90, fontsize=7, va="bottom")
    return _png(fig)


def _events(folder: Path, t0: float) -> list[tuple[float, str]]:
    """Injected events (events.csv of resilience scenarios), relative to the first request."""
    found = []
    for file in folder.glob("*/events.csv"):
        for line in file.read_text().splitlines()[1:]:
            time_, event, *_ = line.split(",")
            found.append((float(time_) - t0, event))
    return found


def _per_engine(figures: dict[str, dict[str, Any]]) -> str:
    levels = [lv for lv, v in figures.items() if v.get("requests_per_engine")]
    if not levels:
        return ""
    engines = sorted({e for lv in levels for e in figures[lv]["requests_per_engine"]})
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    width = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        counts = [figures[lv]["requests_per_engine"].get(engine, 0) for lv in levels]
        ax.bar(np.arange(len(levels)) + i * width, counts, width, label=engine)
    rates = [figures[lv].get("prefix_cache_hit_rate") for lv in levels]
    labels = [
        f"{lv}\nhits {r:.0%}" if r is not None else lv for lv, r in zip(levels, rates, strict=True)
    ]
    ax.set_xticks(np.arange(len(levels)) + 0.4 - width / 2, labels)
    ax.set(title="Requests per engine (and prefix-cache hit rate)", ylabel="requests")
    ax.legend()
    return _png(fig)


def _by_round(samples: list[summary.Sample]) -> str:
    rounds = summary.ttft_by_round(samples)
    if not rounds:
        return ""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot([int(r) for r in rounds], list(rounds.values()), marker="o")
    ax.set(title="Median TTFT by conversation round", xlabel="round", ylabel="TTFT ms")
    ax.grid(alpha=0.3)
    return _png(fig)


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()


def _e(text: str) -> str:
    return html.escape(text)
