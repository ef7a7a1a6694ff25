"""compare.html: per level, the table of lab.compare.report, TTFT CDFs of A and B overlaid, and
each metric's change with its interval against its threshold band. Rendered from a Comparison
only.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from lab.compare import outcomes, report
from lab.compare.comparison import Comparison, Row
from lab.compare.runsets import Unit

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child, td.v { text-align: left; }
img { max-width: 48%; margin: 0.5%; border: 1px solid #eee; vertical-align: top; }
.meta { color: #555; font-size: 0.9em; }
.better { color: #080; } .worse { color: #b00; font-weight: bold; } .same, .na { color: #777; }
.inconclusive { color: #a60; } tr.notgated td { background: #fafafa; }
"""
CLASS = {
    outcomes.BETTER: "better",
    outcomes.WORSE: "worse",
    outcomes.SAME: "same",
    outcomes.INCONCLUSIVE: "inconclusive",
    outcomes.NA: "na",
}
COLOURS = {
    outcomes.BETTER: "tab:green",
    outcomes.WORSE: "tab:red",
    outcomes.SAME: "tab:gray",
    outcomes.INCONCLUSIVE: "tab:orange",
    outcomes.NA: "tab:gray",
}


def page(result: Comparison) -> str:
    e = html.escape
    parts = [f"<h1>{e(result.a.name)} (A) → {e(result.b.name)} (B)</h1>"]
    meta = [f"<b>{label}</b>: {e(text)}" for label, text in report.sides(result)]
    meta += [f"run-to-run noise: {e(result.noise())}", e(report.method(result))]
    parts.append("<p class='meta'>" + "<br>".join(meta) + "</p>")
    parts += [f"<p class='meta'>{e(note)}</p>" for note in result.notes]
    status = result.status()
    tone = {outcomes.REGRESSION: "worse", outcomes.NOTHING_TO_GATE: "inconclusive"}
    for i, (line, _) in enumerate(report.gate_lines(result)):
        style = tone.get(status, "better") if i == 1 else "meta"
        parts.append(f"<p class='{style}'>{e(line)}</p>")
    head = [*report.HEAD[:5], f"{report.conf(result)} CI", *report.HEAD[6:], "sees", "verdict"]
    for unit, rows in report.by_unit(result):
        body = "".join(_row(r, result.alpha) for r in rows)
        images = [_cdf(result, rows[0].unit), _intervals(unit, rows, result.alpha)]
        parts.append(
            f"<h2>{e(unit)}</h2><table><tr>{''.join(f'<th>{h}</th>' for h in head)}"
            f"<th>units</th></tr>{body}</table>"
            + "".join(f"<img src='data:image/png;base64,{img}'>" for img in images if img)
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>compare {e(result.a.name)} vs {e(result.b.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def _row(row: Row, alpha: float) -> str:
    e = html.escape
    cells = [*report.cells(row, alpha), report.seen(row)]
    return (
        f"<tr class='{'gated' if row.gated else 'notgated'}'><td>{e(row.metric.label)}</td>"
        + "".join(f"<td>{e(c)}</td>" for c in cells)
        + f"<td class='v {CLASS[row.verdict.word]}'>{e(report.verdict(row))}</td>"
        + f"<td class='v'>{e(row.method)}</td></tr>"
    )


def _cdf(result: Comparison, unit: Unit) -> str:
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


def _intervals(unit: str, rows: list[Row], alpha: float) -> str:
    """Each metric's change with its interval: B/A on a log axis, or points for rates; the
    band is the metric's threshold."""
    tested = [r for r in rows if r.change and r.change.p_up is not None]
    groups = [[r for r in tested if r.metric.log == log] for log in (True, False)]
    groups = [g for g in groups if g]
    if not groups:
        return ""
    fig = Figure(figsize=(6, 1.2 + 0.28 * sum(len(g) for g in groups)))
    axes = fig.subplots(
        len(groups), 1, squeeze=False, height_ratios=[len(g) for g in groups]
    ).ravel()
    for ax, group in zip(axes, groups, strict=True):
        log = group[0].metric.log
        ys = np.arange(len(group))
        # Ratios B/A on a log axis (so +100% and -50% weigh alike and one huge change does not
        # flatten the rest), labelled as changes; rates in points.
        shown = [_shown(r, alpha) for r in group]
        limits = np.array([r.threshold for r in group])
        if log:
            ax.barh(ys, 2 * limits / 100, left=1 - limits / 100, height=0.6, color="0.9")
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{100 * (x - 1):+.0f}%"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.barh(ys, 2 * limits, left=-limits, height=0.6, color="0.9")
        colour = [COLOURS[r.verdict.word] for r in group]
        ax.hlines(ys, [s[1] for s in shown], [s[2] for s in shown], colors=colour, linewidth=2)
        ax.scatter([s[0] for s in shown], ys, c=colour, zorder=3)
        ax.axvline(1 if log else 0, color="k", linewidth=0.8)
        labels = [f"{r.metric.label}{' (gated)' if r.gated else ''}" for r in group]
        ax.set_yticks(ys, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("change, % of A (log scale of B/A)" if log else "change, points")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_title(f"{unit}: B against A, interval; grey: threshold", fontsize=10)
    return _png(fig)


def _shown(row: Row, alpha: float) -> tuple[float, float, float]:
    """(centre, low, high) to plot: B/A ratios for log-scale metrics, else points."""
    c = row.change
    assert c is not None
    low, high = c.interval(alpha)
    if row.metric.log:
        return math.exp(c.d), math.exp(low), math.exp(high)
    return 100 * c.d, 100 * low, 100 * high


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()
