"""report.html of a results folder: a summary table and plots (matplotlib, embedded as PNG).

Rendered from the folder's files only, so a saved run can be re-rendered any time
(`python -m lab report RESULTS`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot state, no display needed

from lab import files
from lab.config import kinds
from lab.config.kinds.base import ROUTING
from lab.errors import ConfigError
from lab.files import shorten
from lab.results import fault_figures, replay_figures, resilience_figures, series, soak, summary
from lab.results import folder as results
from lab.results import level as level_figures
from lab.results.manifest import MANIFEST, Manifest, ScenarioRecord
from lab.results.plots import goodput_vs_rate, latency_vs_rate, pareto, png, saturation

# (figure, label, format): the table of each scenario's levels; figures by their one name
# (lab.results.level), read under their summary.json keys.
COLUMNS = (
    ("completed", "ok", "{:.0f}"),
    ("failed", "failed", "{:.0f}"),
    ("requests_per_s", "req/s", "{:.2f}"),
    ("output_tokens_per_s", "out tok/s", "{:.0f}"),
    ("ttft_p50", "TTFT p50", "{:.1f}"),
    ("ttft_p90", "TTFT p90", "{:.1f}"),
    ("ttft_p99", "TTFT p99", "{:.1f}"),
    ("tpot_p50", "TPOT p50", "{:.2f}"),
    ("itl_p50", "ITL p50", "{:.2f}"),
    ("e2e_p50", "E2E p50", "{:.1f}"),
    ("e2e_p99", "E2E p99", "{:.1f}"),
    ("slo_attainment", "SLO met", "{:.0%}"),
    ("goodput_rps", "goodput/s", "{:.2f}"),
    ("max_waiting", "max waiting", "{:.0f}"),
    ("max_kv_cache_usage", "max KV", "{:.0%}"),
    ("prefix_cache_hit_rate", "prefix hits", "{:.0%}"),
    ("session_stickiness", "stickiness", "{:.0%}"),
    ("engine_balance", "balance", "{:.2f}"),
    ("client_cpu_busiest", "client CPU", "{:.2f}"),
    ("late_share", "sent late", "{:.0%}"),
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
    """Render folder/report.html from the folder's manifest and files. Every file is read and
    checked before report.html is written (a ConfigError names what is wrong)."""
    out = folder / "report.html"
    if out.exists() and not out.is_file():
        raise ConfigError(f"{out}: a folder is in the way; remove it to render the report")
    manifest = Manifest.from_json(files.read_json(folder / MANIFEST, "manifest"))
    parts = [_header(manifest)]
    for entry in manifest.scenarios:
        parts.append(_scenario(folder, entry, manifest.imported is not None))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(folder.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    partial = folder / ".report.html.tmp"
    try:
        partial.write_text(page)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"{out}: cannot write it ({exc.strerror or exc})") from None
    return out


def _header(manifest: Manifest) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in manifest.versions.items())
    host = manifest.host
    return (
        f"<h1>{_e(manifest.profile_name)} on {_e(manifest.platform)}</h1>"
        f"<p class='meta'>{_e(manifest.started)} → {_e(str(manifest.ended))} · status "
        f"<b>{_e(manifest.status)}</b> · routing {_e(manifest.endpoints['routing'])} over "
        f"{len(manifest.endpoints['engines'])} engines<br>{_e(versions)}<br>"
        f"{_e(host['cpu_model'])}, {host['cpu_count']} cores, {host['memory_gib']} GiB · "
        f"commit {_e(str(manifest.git_commit)[:12])}</p>" + _imported(manifest.imported)
    )


def _imported(record: dict[str, Any] | None) -> str:
    """What another tool's result (lab import) could not give, and why."""
    if record is None:
        return ""
    missing = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in record["not_applicable"].items())
    return (
        f"<p class='meta'>imported from {_e(record['tool'])} {_e(record['version'])}: "
        f"{_e(record['source'])}</p><ul>{missing}</ul>"
    )


def _scenario(folder: Path, entry: ScenarioRecord, imported: bool) -> str:
    place = results.scenario_place(folder, entry, imported)
    title = f"<h2>{_e(entry.name)} ({_e(entry.kind)}): {_e(entry.status)}</h2>"
    if entry.error:
        title += f"<p class='bad'>{_e(entry.error)}</p>"
    samples_file = place / "requests.csv"
    if not samples_file.exists():
        return title + "<p>No request was measured.</p>"
    samples = summary.read_samples(samples_file)
    if not samples:
        return title + "<p>No request was measured.</p>"
    written = results.read_summary(place)
    figures = _figures(written, place / "summary.json")
    slo, capacity = written.get("slo"), written.get("capacity")
    t0 = min(s.start for s in samples)
    images = [
        _cdf(samples, "ttft_ms", "TTFT"),
        _cdf(samples, "e2e_ms", "End-to-end latency"),
        _over_time(samples, folder),
        saturation(series.read(place / series.FILE), t0),
        latency_vs_rate(figures, slo, capacity),
        goodput_vs_rate(figures, slo, capacity),
        pareto(figures),
        _per_engine(figures),
        soak.plot(soak.read(place / soak.FILE), t0),
    ]
    verdict = ""
    if ROUTING in kinds.get(entry.kind).figures:
        images.append(_by_round(samples))
        verdict = _routing_verdict(figures)
    return (
        title
        + _capacity(capacity)
        + _table(figures)
        + _failures(figures)
        + verdict
        + _resilience(figures)
        + soak.section(soak.read_verdicts(place))
        + fault_figures.timeline(figures)
        + replay_figures.section(figures)
        + "".join(f"<img src='data:image/png;base64,{img}'>" for img in images if img)
    )


def _figures(written: dict[str, Any], file: Path) -> dict[str, dict[str, Any]]:
    """summary.json's figures per level; those the report shows must be numbers."""
    levels: dict[str, dict[str, Any]] = written.get("levels", {})
    for level, values in levels.items():
        for name, _, _ in COLUMNS:
            key = level_figures.key(name)
            if values.get(key) is not None and not _number(values[key]):
                raise ConfigError(f"{file}: levels.{shorten(level)}.{key}: expected a number")
        engines = values.get("requests_per_engine") or {}
        if not isinstance(engines, dict) or not all(_number(n) for n in engines.values()):
            where = f"levels.{shorten(level)}.requests_per_engine"
            raise ConfigError(f"{file}: {where}: expected a number per engine")
    return levels


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _capacity(capacity: dict[str, Any] | None) -> str:
    """The capacity search's outcome in words, with its SLO and interval."""
    if not capacity:
        return ""
    slo = capacity["slo"]
    limits = ", ".join(f"{k} ≤ {v:g}" for k, v in slo.items()
                       if k.endswith("_ms") and v is not None)  # fmt: skip
    interval = capacity["interval"]
    low, high = interval["low_rps"], interval["high_rps"]
    span = f"{'-' if low is None else f'{low:g}'} to {'open' if high is None else f'{high:g}'}"
    return (
        f"<p><b>{_e(capacity['statement'])}</b><br>"
        f"<span class='meta'>SLO: {_e(limits)} for {slo['attainment']:.0%} of requests, "
        f"errors ≤ {slo['max_error_rate']:.0%} · {interval['confidence']:.0%} interval "
        f"{_e(span)} req/s ({_e(interval['scope'])}) · {_e(capacity['limit_detail'])} · "
        f"{len(capacity['steps'])} steps in {capacity['elapsed_s']:.0f} s</span></p>"
    )


def _table(figures: dict[str, dict[str, Any]]) -> str:
    head = "<tr><th>level</th>" + "".join(f"<th>{label}</th>" for _, label, _ in COLUMNS) + "</tr>"
    rows = []
    for level, values in figures.items():
        cells = []
        for name, _, fmt in COLUMNS:
            value = values.get(level_figures.key(name))
            cells.append(f"<td>{'-' if value is None else fmt.format(value)}</td>")
        rows.append(f"<tr><td>{_e(level)}</td>{''.join(cells)}</tr>")
    note = (
        "<p class='meta'>Latencies in ms, from raw per-request samples. Client CPU: the busiest "
        f"Locust process, in cores; sent late: requests sent over {summary.LATE_MS:.0f} ms "
        "after their arrival time.</p>"
    )
    limited = "".join(
        f"<p class='bad'>{_e(level)}: client-limited, its figures are the load generator's: "
        f"{_e(values['client_limited'])}</p>"
        for level, values in figures.items()
        if values.get("client_limited")
    )
    foreign = "".join(
        f"<p class='bad'>{_e(level)}: engine counters {_e(values['foreign_traffic'])}</p>"
        for level, values in figures.items()
        if values.get("foreign_traffic")
    )
    return f"<table>{head}{''.join(rows)}</table>{note}{limited}{foreign}"


def _failures(figures: dict[str, dict[str, Any]]) -> str:
    """Each level's failed requests by how they failed (summary.json's failures; a folder
    written before has none to show)."""
    lines = []
    for level, values in figures.items():
        found = values.get("failures")
        if not isinstance(found, dict) or not found:
            continue
        counts = ", ".join(f"{_e(str(name))} {_e(str(n))}" for name, n in sorted(found.items()))
        lines.append(f"<p class='bad'>{_e(level)}: failed requests by class: {counts}</p>")
    return "".join(lines)


def _routing_verdict(figures: dict[str, dict[str, Any]]) -> str:
    """The routing logic judged whole: cache hits beside balance, each engine's TTFT and the
    TTFT by conversation round, so that hits won by idling an engine show as such."""
    head = (
        "<tr><th>level</th><th>prefix hits</th><th>balance</th><th>busiest engine</th>"
        "<th>TTFT p50 per engine</th><th>TTFT p50 by round</th></tr>"
    )
    rows = []
    for level, v in figures.items():
        hits, balance, share = (
            v.get("prefix_cache_hit_rate"), v.get("engine_balance"), v.get("busiest_engine_share")
        )  # fmt: skip
        per_engine = v.get(level_figures.key("ttft_p50_per_engine"), {})
        by_round = v.get(level_figures.key("ttft_p50_by_round"), {})
        engines = ", ".join(f"{e} {ms:.0f}" for e, ms in per_engine.items())
        rounds = ", ".join(f"{r}: {ms:.0f}" for r, ms in by_round.items())
        rows.append(
            f"<tr><td>{_e(level)}</td><td>{'-' if hits is None else f'{hits:.0%}'}</td>"
            f"<td>{'-' if balance is None else f'{balance:.2f}'}</td>"
            f"<td>{'-' if share is None else f'{share:.0%} of requests'}</td>"
            f"<td>{_e(engines) or '-'}</td><td>{_e(rounds) or '-'}</td></tr>"
        )
    note = (
        "<p class='meta'>Routing verdict: a hit rate won by sending most requests to one engine "
        "is no win; balance is min/max requests per engine. TTFT in ms.</p>"
    )
    return f"<h3>Routing verdict</h3><table>{head}{''.join(rows)}</table>{note}"


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
    return png(fig)


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
    return png(fig)


def _events(folder: Path, t0: float) -> list[tuple[float, str]]:
    """Injected events (events.csv of resilience scenarios), relative to the first request."""
    found = []
    for file in folder.glob(f"*/{resilience_figures.EVENTS_FILE}"):
        found += [(when - t0, event) for when, event, _ in resilience_figures.read_events(file)]
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
    return png(fig)


def _by_round(samples: list[summary.Sample]) -> str:
    rounds = summary.ttft_by_round(samples)
    if not rounds:
        return ""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot([int(r) for r in rounds], list(rounds.values()), marker="o")
    ax.set(title="Median TTFT by conversation round", xlabel="round", ylabel="TTFT ms")
    ax.grid(alpha=0.3)
    return png(fig)


def _e(text: str) -> str:
    return html.escape(text)
