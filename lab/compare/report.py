"""Showing a comparison (lab.compare.comparison): the terminal tables, compare.md and
compare.csv, with gated and not gated metrics apart, verdicts in lab.compare.outcomes'
vocabulary, where the run-to-run noise came from and the gate's Holm-corrected decision; and a
noise profile's table. Rendered from a Comparison or a NoiseProfile only; nothing here computes
a statistic (compare.html is lab.compare.page's).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from rich import box
from rich.table import Table

from lab.compare import gate, outcomes, rates
from lab.compare import metrics as compare_metrics
from lab.compare.comparison import Comparison, Row
from lab.compare.noise import NoiseProfile
from lab.compare.stats import Change
from lab.console import out as console
from lab.console import plain

CSV_COLUMNS = (
    "scenario",
    "level",
    "metric",
    "unit",
    "better_when",
    "gated",
    "a",
    "b",
    "change",
    "change_pct",
    "ci_low",
    "ci_high",
    "ci_low_pct",
    "ci_high_pct",
    "p_value",
    "p_adjusted",
    "test",
    "noise",
    "df",
    "alpha",
    "threshold",
    "threshold_kind",
    "significant",
    "beyond_threshold",
    "verdict",
    "reason",
    "units",
    "n_a",
    "n_b",
    "detectable_pct",
)
STYLE = {
    outcomes.BETTER: "green",
    outcomes.WORSE: "red",
    outcomes.SAME: "dim",
    outcomes.INCONCLUSIVE: "yellow",
    outcomes.NA: "yellow",
}
HEAD = ("metric", "gated", "A", "B", "change", "CI", "p", "p (Holm)")
SHORT = {
    outcomes.BETTER: "better",
    outcomes.WORSE: "WORSE",
    outcomes.SAME: "~",
    outcomes.INCONCLUSIVE: "inconclusive*",
}
# A rate's detectable change beyond what the rate can move (rates.capped).
NOT_DETECTABLE = "not detectable at this size"


def show(result: Comparison) -> None:
    """The tables on the terminal, one per level, then notes, the noise and the gate."""
    console.print(f"[bold]{plain(result.a.name)} (A) → {plain(result.b.name)} (B)[/]")
    for unit, rows in by_unit(result):
        table = Table(title=plain(unit), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for name in (*HEAD, "verdict"):
            left = name in ("metric", "gated", "verdict")
            label = f"{conf(result)} CI" if name == "CI" else name
            table.add_column(label, justify="left" if left else "right", no_wrap=name == "metric")
        for row in rows:
            _, *rest = cells(row, result.alpha)
            table.add_row(
                *(plain(cell) for cell in [row.metric.name, "✓" if row.gated else "", *rest]),
                f"[{STYLE[row.verdict.word]}]{plain(short(row))}[/]",
            )
        reach = [f"{r.metric.label} {seen(r)}" for r in rows if r.gated and r.reach is not None]
        if reach:
            table.caption = f"a change found 95% of the time here: {', '.join(reach)}"
            table.caption_justify = "left"
        console.print(table)
    reasons = sorted(
        {r.verdict.reason for r in result.rows if r.verdict.word == outcomes.INCONCLUSIVE}
    )
    footnotes = [f"* inconclusive: {reason}" for reason in reasons]
    for note in [*footnotes, *result.notes, f"run-to-run noise: {result.noise()}", method(result)]:
        console.print(f"[dim]ℹ️  {plain(note)}[/]")
    for line, style in gate_lines(result):
        console.print(f"[{style}]{plain(line)}[/]")


def cells(row: Row, alpha: float) -> list[str]:
    """gated, A, B, change, interval, p and Holm's p as text."""
    mark = "gated" if row.gated else "not gated"
    c = row.change
    if c is None:
        return [mark, "-", "-", "-", "-", "-", "-"]
    arrow = "↑" if c.d > 0 else "↓" if c.d < 0 else ""
    return [
        mark,
        value(row.metric, c.a),
        value(row.metric, c.b),
        f"{arrow}{amount(row.metric, c.d)}",
        interval(row, alpha),
        probability(row.p),
        probability(row.p_adjusted),
    ]


def short(row: Row) -> str:
    """The verdict in a terminal cell: inconclusive's reason is a footnote."""
    text = SHORT.get(row.verdict.word) or str(row.verdict)
    return text + (" (<threshold)" if row.verdict.word == outcomes.SAME and row.significant else "")


def verdict(row: Row) -> str:
    """The verdict as words; a significant change within its threshold says so."""
    text = str(row.verdict)
    if row.verdict.word == outcomes.SAME and row.significant:
        text += " (<threshold)"
    return text


def probability(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def seen(row: Row) -> str:
    """The change this comparison finds 95% of the time, if known."""
    if row.reach is None:
        return "-"
    if math.isinf(row.reach):
        return NOT_DETECTABLE
    return f"≥{row.reach:.0f}%" if row.metric.log else f"≥{row.reach:.1f}pt"


def value(metric: compare_metrics.Metric, x: float) -> str:
    if metric.rate:
        return f"{100 * x:.1f}%"
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


def amount(metric: compare_metrics.Metric, d: float) -> str:
    """A change on the test's scale as the threshold counts it: percent of A, or points."""
    return f"{100 * math.expm1(d):+.1f}%" if metric.log else f"{100 * d:+.1f}pt"


def interval(row: Row, alpha: float) -> str:
    """The interval of the change, in the change's unit (percent of A, or points); none where no
    spread is known (counts judged exactly, every run all-ok or all-failed)."""
    c = row.change
    assert c is not None
    if c.p_up is None or c.se == 0:
        return "-"
    low, high = c.interval(alpha)
    if row.metric.log:
        return f"{100 * math.expm1(low):+.0f}…{100 * math.expm1(high):+.0f}%"
    return f"{100 * low:+.1f}…{100 * high:+.1f}"


def method(result: Comparison) -> str:
    return (
        f"tests: t on each side's per-run figures (log scale for latencies and throughput), "
        f"one-sided in the direction of the change (error rate and SLO attainment of single "
        f"runs, or of runs without spread: {rates.TEST}); the gated metrics together with Holm's "
        f"correction at alpha {result.alpha:g} (p (Holm) column), the others each at alpha; "
        f"better/worse only beyond the threshold (see docs/compare.md)"
    )


def conf(result: Comparison) -> str:
    return f"{100 * (1 - 2 * result.alpha):g}%"


def gate_lines(result: Comparison) -> list[tuple[str, str]]:
    """The gate's decision and what it could not judge: (line, style)."""
    gated = result.gated
    status = result.status()
    head = (
        f"gate ({result.options.gate.describe()}): {len(gated)} gated metric × level, "
        f"{result.tested} tested together, Holm at alpha {result.alpha:g}"
    )
    if not result.options.correct:
        head = f"gate: every metric on its own at alpha {result.alpha:g}, no correction"
    lines = [(head, "dim")]
    if status == outcomes.REGRESSION:
        worse = ", ".join(_named(r) for r in result.regressions)
        lines.append((f"❌ {len(result.regressions)} gated regression(s): {worse}", "red"))
    elif status == outcomes.NOTHING_TO_GATE:
        lines.append(("⚠️  nothing measurable to gate: every gated metric is n/a", "yellow"))
    else:
        lines.append(("✅ no gated regression", "green"))
    left = [r for r in gated if r.verdict.word in (outcomes.INCONCLUSIVE, outcomes.NA)]
    for verdict in dict.fromkeys(r.verdict for r in left):
        named = ", ".join(_named(r) for r in left if r.verdict == verdict)
        count = sum(r.verdict == verdict for r in left)
        said = f"{count} gated {verdict.word} (never fail the gate), {verdict.reason}: {named}"
        lines.append((said, "yellow"))
    return lines


def _named(row: Row) -> str:
    return f"{row.unit.scenario}/{row.unit.level} {row.metric.name}"


def csv_row(row: Row, alpha: float) -> dict[str, object]:
    c, m = row.change, row.metric
    base: dict[str, object] = {
        "scenario": row.unit.scenario,
        "level": row.unit.level,
        "metric": m.name,
        "unit": "fraction" if m.rate else m.unit,
        "better_when": "higher" if m.higher_is_better else "lower",
        "gated": row.gated,
        "alpha": alpha,
        "threshold": row.threshold,
        "threshold_kind": "percent of A" if m.relative else "percentage points",
        "significant": row.significant,
        "beyond_threshold": row.beyond,
        "verdict": row.verdict.word,
        "reason": row.verdict.reason,
        "units": row.method,
        "n_a": row.n_a,
        "n_b": row.n_b,
        "detectable_pct": "" if row.reach is None else f"{row.reach:.3g}",
        "p_value": _number(row.p),
        "p_adjusted": _number(row.p_adjusted),
    }
    if c is None:
        return base
    low, high = c.interval(alpha)
    lows, highs = (math.expm1(low), math.expm1(high)) if m.log else (low, high)
    return base | {
        "a": f"{c.a:.6g}",
        "b": f"{c.b:.6g}",
        "change": f"{c.diff:.6g}",
        "change_pct": _pct(c.rel),
        "ci_low": f"{c.a * lows if m.log else lows:.6g}",
        "ci_high": f"{c.a * highs if m.log else highs:.6g}",
        "ci_low_pct": _pct(lows if m.log else (lows / c.a if c.a else None)),
        "ci_high_pct": _pct(highs if m.log else (highs / c.a if c.a else None)),
        "test": _test(c, m),
        "noise": c.noise,
        "df": "" if c.p_up is None or c.exact else f"{c.df:.4g}",
    }


def _test(c: Change, m: compare_metrics.Metric) -> str:
    if c.p_up is None:
        return "none"
    if c.exact:
        return rates.TEST
    return "t on log values" if m.log else "t on values"


def _pct(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{100 * x:.4g}"


def _number(p: float | None) -> str:
    return "" if p is None else f"{p:.4g}"


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
        profiles = sorted({m.profile_name for m in manifests})
        routings = sorted({m.endpoints["routing"] for m in manifests})
        platforms = sorted({m.platform for m in manifests})
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
    lines += ["", f"Run-to-run noise: {result.noise()}.", "", f"Method: {method(result)}."]
    if result.notes:
        lines += ["", *(f"- {note}" for note in result.notes)]
    decision = [line for line, _ in gate_lines(result)]
    lines += ["", decision[0], "", f"**{decision[1]}**", "", *decision[2:], ""]
    head = [*HEAD[:5], f"{conf(result)} CI", *HEAD[6:], "sees", "verdict", "units"]
    for unit, rows in by_unit(result):
        lines += [f"## {unit}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in rows:
            parts = [row.metric.label, *cells(row, result.alpha), seen(row), verdict(row)]
            parts.append(row.method)
            lines.append("| " + " | ".join(parts) + " |")
        lines.append("")
    return "\n".join(lines)


def by_unit(result: Comparison) -> list[tuple[str, list[Row]]]:
    """Rows per level, gated metrics first."""
    groups: dict[str, list[Row]] = {}
    for row in result.rows:
        groups.setdefault(f"{row.unit.scenario}/{row.unit.level}", []).append(row)
    return [(unit, sorted(rows, key=lambda r: not r.gated)) for unit, rows in groups.items()]


def show_noise(profile: NoiseProfile) -> None:
    """A noise profile's run-to-run spread of the default gate's metrics, per level: in percent
    for latencies and throughput (sd of the log), in points for rates."""
    document = profile.document
    table = Table(
        title=plain(
            f"{profile.name}: profile {document['profile_name']} on {document['platform']}"
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for name in ("level", "metric", "runs", "run to run", "own sampling", "drift", "df"):
        table.add_column(name, justify="left" if name in ("level", "metric") else "right")
    for entry in document["entries"]:
        if entry["metric"] not in gate.DEFAULT:
            continue
        unit = "%" if entry["scale"] == "log" else "pt"
        spreads = (f"±{100 * entry[k]:.1f}{unit}" for k in ("sd", "within_sd", "between_sd"))
        table.add_row(
            f"{entry['scenario']}/{entry['level']}",
            entry["metric"],
            str(entry["runs"]),
            *spreads,
            str(entry["df"]),
        )
    console.print(table)
