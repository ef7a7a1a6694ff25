"""A replay level's figures against its trace's, in summary.json under `replay` (lab.load.replay
writes them as each level ends): the rate the trace asks for (a timed level's) against the
rate sent, and the prefix reuse the trace holds (an unbounded cache's) against the hit rate
the engines' counters measured."""

from __future__ import annotations

from html import escape
from typing import Any

KEY = "replay"  # a level's entry in summary.json
SHOWN = (
    ("trace_rate_rps", "the trace's rate (req/s)", "{:.2f}"),
    ("sent_rps", "sent (req/s)", "{:.2f}"),
    ("theoretical_reuse", "theoretical prefix reuse", "{:.1%}"),
    ("measured_hit_rate", "measured hit rate", "{:.1%}"),
)


def figures(
    trace_rate: float | None, sent: float, reuse: float, hit_rate: float | None
) -> dict[str, float | None]:
    return {
        "trace_rate_rps": trace_rate,
        "sent_rps": sent,
        "theoretical_reuse": reuse,
        "measured_hit_rate": hit_rate,
    }


def section(levels: dict[str, dict[str, Any]]) -> str:
    """The report's table of each replay level against its trace ("" for other kinds)."""
    rows = []
    for level, values in levels.items():
        found = values.get(KEY)
        if isinstance(found, dict):
            cells = "".join(f"<td>{escape(_said(found.get(k), f))}</td>" for k, _, f in SHOWN)
            rows.append(f"<tr><td>{escape(level)}</td>{cells}</tr>")
    if not rows:
        return ""
    head = "<th>level</th>" + "".join(f"<th>{escape(title)}</th>" for _, title, _ in SHOWN)
    return (
        "<h3>Replay against its trace</h3><table><tr>" + head + "</tr>" + "".join(rows) + "</table>"
    )


def _said(value: Any, form: str) -> str:
    """A figure as the table shows it: '-' where there is none (an untimed level's trace rate,
    engines whose counters could not be read), anything not a number shown as text."""
    if value is None:
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return form.format(value)
    return str(value)
