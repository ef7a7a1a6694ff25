"""Showing and writing a comparison (lab.compare.comparison): a terminal table, compare.md,
compare.csv and compare.html (TTFT CDFs of A and B per level, each metric's change with its
interval). Rendered from a Comparison only; nothing here computes a statistic.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter
from rich import box
from rich.markup import escape
from rich.table import Table

from lab.compare import metrics as compare_metrics
from lab.compare import runsets
from lab.compare.comparison import (
    BETTER,
    MISSING,
    SAME,
    WORSE,
    Comparison,
    Row,
    check_out,
    compare,
    default_out,
    exit_code,
)
from lab.console import out as console

CSV_COLUMNS = (
    "scenario",
    "level",
    "metric",
    "unit",
    "better_when",
    "a",
    "b",
    "change",
    "change_pct",
    "ci_low",
    "ci_high",
    "ci_low_pct",
    "ci_high_pct",
    "p_value",
    "test",
    "alpha",
    "threshold",
    "threshold_kind",
    "significant",
    "beyond_threshold",
    "verdict",
    "units",
    "n_a",
    "n_b",
    "detectable_pct",
)
STYLE = {BETTER: "green", WORSE: "red", SAME: "dim", MISSING: "yellow"}
SHORT = {BETTER: "better", WORSE: "WORSE", SAME: "~", MISSING: "n/a"}


def run(
    run_a: Path,
    run_b: Path,
    metric_names: list[str],
    threshold_items: list[str],
    alpha: float,
    out: Path | None,
    fail_on_regression: bool,
) -> int:
    """`lab compare`: check every input, compare, show, write; the exit status."""
    metrics = compare_metrics.select(metric_names)
    limits = compare_metrics.thresholds(threshold_items)
    a, b = runsets.load(run_a), runsets.load(run_b)
    folder = out or default_out(a, b)
    check_out(folder)
    result = compare(a, b, metrics, limits, alpha)
    show(result)
    write(result, folder)
    console.print(f"📁 comparison: {escape(str(folder))} (compare.md, compare.csv, compare.html)")
    return exit_code(result, fail_on_regression)


def show(result: Comparison) -> None:
    """The tables on the terminal, one per level, verdicts in colour."""
    console.print(f"[bold]{escape(result.a.name)} (A) → {escape(result.b.name)} (B)[/]")
    for unit, rows in _by_unit(result):
        table = Table(title=unit, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for name in ("metric", "A", "B", "change", f"{_conf(result)} CI", "p", "verdict"):
            left = name in ("metric", "verdict")
            table.add_column(name, justify="left" if left else "right", no_wrap=name == "metric")
        for row in rows:
            verdict = SHORT[row.verdict]
            if row.verdict == SAME and row.significant:
                verdict += " (<threshold)"
            table.add_row(
                row.metric.name,
                *(escape(cell) for cell in cells(row)),
                f"[{STYLE[row.verdict]}]{escape(verdict)}[/]",
            )
        reach = [
            f"{r.metric.family.upper()} {seen(r)}"
            for r in rows
            if r.metric.name.endswith("_p50") and r.detectable
        ]
        if reach:
            table.caption = f"a latency shift found 95% of the time here: {', '.join(reach)}"
            table.caption_justify = "left"
        console.print(table)
    for note in [*result.notes, method(result)]:
        console.print(f"[dim]ℹ️  {escape(note)}[/]")
    worse = result.regressions
    if worse:
        names = ", ".join(f"{r.unit.scenario}/{r.unit.level} {r.metric.name}" for r in worse)
        console.print(f"[red]❌ {len(worse)} regression(s): {escape(names)}[/]")
    else:
        console.print("[green]✅ no regression[/]")


def cells(row: Row) -> list[str]:
    """A, B, change, interval and p as text."""
    c = row.change
    if c is None:
        return ["-", "-", "-", "-", "-"]
    arrow = "↑" if c.diff > 0 else "↓" if c.diff < 0 else ""
    return [
        value(row.metric, c.a),
        value(row.metric, c.b),
        f"{arrow}{amount(row.metric, c.diff, c.rel)}",
        interval(row),
        "-" if c.p is None else ("<0.001" if c.p < 0.001 else f"{c.p:.3f}"),
    ]


def seen(row: Row) -> str:
    """The latency shift this comparison finds 95% of the time (approximate), if known."""
    return "-" if row.detectable is None else f"≥{100 * row.detectable:.0f}%"


def value(metric: compare_metrics.Metric, x: float) -> str:
    if metric.rate:
        return f"{100 * x:.1f}%"
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


def amount(metric: compare_metrics.Metric, diff: float, rel: float | None) -> str:
    """The change as the threshold counts it: percent of A, or points for rates."""
    if not metric.relative:
        return f"{100 * diff:+.1f}pt"
    return f"{100 * rel:+.1f}%" if rel is not None else f"{diff:+.3g} {metric.unit}"


def interval(row: Row) -> str:
    """The interval of the change, in the change's unit (percent of A, or points)."""
    c = row.change
    assert c is not None
    if not row.metric.relative:
        low, high = c.diff_low, c.diff_high
        return "-" if math.isnan(low) else f"{100 * low:+.1f}…{100 * high:+.1f}"
    if c.rel_low is None or c.rel_high is None or math.isnan(c.rel_low):
        return "-"
    return f"{100 * c.rel_low:+.0f}…{100 * c.rel_high:+.0f}%"


def method(result: Comparison) -> str:
    units = "runs (median of per-run values)" if result.by_runs else "requests"
    tests = sum(1 for r in result.rows if r.change is not None)
    return (
        f"units: {units}; one-sided Mann–Whitney U in the direction of the change at alpha "
        f"{result.alpha:g} (p column), and the {_conf(result)} percentile-bootstrap CI must "
        f"exclude 0; better/worse only beyond the threshold; {tests} metrics compared, no "
        "multiple-test correction (see docs/compare.md)"
    )


def _conf(result: Comparison) -> str:
    return f"{100 * (1 - 2 * result.alpha):g}%"


def write(result: Comparison, folder: Path) -> None:
    check_out(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(result, folder / "compare.csv")
    (folder / "compare.md").write_text(markdown(result))
    (folder / "compare.html").write_text(page(result))


def csv_row(row: Row, alpha: float) -> dict[str, object]:
    c, m = row.change, row.metric
    base: dict[str, object] = {
        "scenario": row.unit.scenario,
        "level": row.unit.level,
        "metric": m.name,
        "unit": "fraction" if m.rate else m.unit,
        "better_when": "higher" if m.higher_is_better else "lower",
        "alpha": alpha,
        "threshold": row.threshold,
        "threshold_kind": "percent of A" if m.relative else "percentage points",
        "significant": row.significant,
        "beyond_threshold": row.beyond,
        "verdict": row.verdict,
        "units": row.method,
        "n_a": row.n_a,
        "n_b": row.n_b,
        "detectable_pct": "" if row.detectable is None else f"{100 * row.detectable:.3g}",
    }
    if c is None:
        return base

    def pct(x: float | None) -> str:
        return "" if x is None or math.isnan(x) else f"{100 * x:.4g}"

    return base | {
        "a": f"{c.a:.6g}",
        "b": f"{c.b:.6g}",
        "change": f"{c.diff:.6g}",
        "change_pct": pct(c.rel),
        "ci_low": f"{c.diff_low:.6g}",
        "ci_high": f"{c.diff_high:.6g}",
        "ci_low_pct": pct(c.rel_low),
        "ci_high_pct": pct(c.rel_high),
        "p_value": "" if c.p is None else f"{c.p:.4g}",
        "test": c.test,
    }


def write_csv(result: Comparison, path: Path) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in result.rows:
            writer.writerow(csv_row(row, result.alpha))


def sides(result: Comparison) -> list[tuple[str, str]]:
    """(label, description) of A and B: folder, runs, profile, routing, platform."""
    out = []
    for label, side in (("A", result.a), ("B", result.b)):
        manifests = [r.manifest for r in side.runs]
        profiles = sorted({m["profile_name"] for m in manifests})
        routings = sorted({m["endpoints"]["routing"] for m in manifests})
        platforms = sorted({m["platform"] for m in manifests})
        out.append(
            (
                label,
                f"{side.path} — {len(side.runs)} run(s), profile {', '.join(profiles)}, "
                f"routing {', '.join(routings)}, on {', '.join(platforms)}",
            )
        )
    return out


def markdown(result: Comparison) -> str:
    lines = [f"# Comparison: {result.a.name} (A) → {result.b.name} (B)", ""]
    lines += [f"- **{label}**: {text}" for label, text in sides(result)]
    lines += ["", f"Method: {method(result)}.", ""]
    lines += [f"- {note}" for note in result.notes]
    worse = result.regressions
    lines += ["", f"**{len(worse)} regression(s)**:" if worse else "**No regression.**", ""]
    lines += [f"- {r.unit.scenario}/{r.unit.level} {r.metric.name}" for r in worse]
    head = ["metric", "A", "B", "change", f"{_conf(result)} CI", "p", "sees", "verdict", "units"]
    for unit, rows in _by_unit(result):
        lines += [f"## {unit}", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "---|" * len(head))
        for row in rows:
            lines.append(
                "| "
                + " | ".join([row.metric.label, *cells(row), seen(row), row.verdict, row.method])
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def _by_unit(result: Comparison) -> list[tuple[str, list[Row]]]:
    groups: dict[str, list[Row]] = {}
    for row in result.rows:
        groups.setdefault(f"{row.unit.scenario}/{row.unit.level}", []).append(row)
    return list(groups.items())


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child, td.v { text-align: left; }
img { max-width: 48%; margin: 0.5%; border: 1px solid #eee; vertical-align: top; }
.meta { color: #555; font-size: 0.9em; }
.better { color: #080; } .worse { color: #b00; font-weight: bold; } .same, .na { color: #777; }
"""
CLASS = {BETTER: "better", WORSE: "worse", SAME: "same", MISSING: "na"}


def page(result: Comparison) -> str:
    e = html.escape
    parts = [f"<h1>{e(result.a.name)} (A) → {e(result.b.name)} (B)</h1>"]
    parts.append(
        "<p class='meta'>"
        + "<br>".join(f"<b>{label}</b>: {e(text)}" for label, text in sides(result))
        + f"<br>{e(method(result))}</p>"
    )
    parts += [f"<p class='meta'>{e(note)}</p>" for note in result.notes]
    worse = result.regressions
    parts.append(
        f"<p class='worse'>{len(worse)} regression(s)</p>"
        if worse
        else "<p class='better'>No regression.</p>"
    )
    head = ["metric", "A", "B", "change", f"{_conf(result)} CI", "p", "sees", "verdict", "units"]
    for unit, rows in _by_unit(result):
        body = "".join(
            f"<tr><td>{e(r.metric.label)}</td>"
            + "".join(f"<td>{e(c)}</td>" for c in [*cells(r), seen(r)])
            + f"<td class='v {CLASS[r.verdict]}'>{e(r.verdict)}</td>"
            + f"<td class='v'>{e(r.method)}</td></tr>"
            for r in rows
        )
        images = [_cdf(result, rows[0].unit), _intervals(unit, rows)]
        parts.append(
            f"<h2>{e(unit)}</h2><table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>"
            f"{body}</table>"
            + "".join(f"<img src='data:image/png;base64,{img}'>" for img in images if img)
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>compare {e(result.a.name)} vs {e(result.b.name)}</title>"
        f"<style>{PAGE_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def _cdf(result: Comparison, unit: runsets.Unit) -> str:
    if unit not in result.ttft:
        return ""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for label, data, side in zip("AB", result.ttft[unit], (result.a, result.b), strict=True):
        data = np.sort(data)
        if data.size:
            runs = f", {len(side.runs)} runs pooled" if len(side.runs) > 1 else ""
            ax.plot(
                data, np.arange(1, data.size + 1) / data.size, label=f"{label}: {side.name}{runs}"
            )
    ax.set(title=f"TTFT CDF, {unit.scenario}/{unit.level}", xlabel="ms", ylabel="share of requests")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)
    return _png(fig)


def _intervals(unit: str, rows: list[Row]) -> str:
    """Each metric's change with its interval: percent of A, or points for rates; the band
    is the metric's threshold."""
    groups = [[r for r in rows if r.change and r.metric.relative == rel] for rel in (True, False)]
    groups = [g for g in groups if g]
    if not groups:
        return ""
    fig = Figure(figsize=(6, 1.2 + 0.28 * sum(len(g) for g in groups)))
    axes = fig.subplots(
        len(groups), 1, squeeze=False, height_ratios=[len(g) for g in groups]
    ).ravel()
    colours = {BETTER: "tab:green", WORSE: "tab:red", SAME: "tab:gray", MISSING: "tab:gray"}
    for ax, group in zip(axes, groups, strict=True):
        relative = group[0].metric.relative
        ys = np.arange(len(group))
        # Relative changes as ratios B/A on a log axis (so +100% and -50% weigh alike and one
        # huge change does not flatten the rest), labelled as changes; rates in points.
        shown = [_shown(r, relative) for r in group]
        limits = np.array([r.threshold for r in group])
        if relative:
            ax.barh(ys, 2 * limits / 100, left=1 - limits / 100, height=0.6, color="0.9")
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{100 * (x - 1):+.0f}%"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.barh(ys, 2 * limits, left=-limits, height=0.6, color="0.9")
        colour = [colours[r.verdict] for r in group]
        ax.hlines(ys, [s[1] for s in shown], [s[2] for s in shown], colors=colour, linewidth=2)
        ax.scatter([s[0] for s in shown], ys, c=colour, zorder=3)
        ax.axvline(1 if relative else 0, color="k", linewidth=0.8)
        ax.set_yticks(ys, [r.metric.label for r in group], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("change, % of A (log scale of B/A)" if relative else "change, points")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_title(f"{unit}: B against A, interval; grey: threshold", fontsize=10)
    return _png(fig)


def _shown(row: Row, relative: bool) -> tuple[float, float, float]:
    """(centre, low, high) to plot: B/A ratios for relative metrics, else points."""
    c = row.change
    assert c is not None
    if not relative:
        return 100 * c.diff, 100 * c.diff_low, 100 * c.diff_high
    floor = 1e-3  # a ratio of 0 (B fell to nothing) cannot sit on a log axis
    values = [c.rel or 0.0, c.rel_low, c.rel_high]
    return tuple(np.nan if v is None else max(floor, 1 + v) for v in values)  # type: ignore[return-value]


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()
