"""The figures of a faults scenario, per fault, from its level's requests and the events.csv
the injection wrote (lab.load.faults names each fault's events: `hang engine-1` when it began,
`hang engine-1 end` when it was lifted):

- when it was injected and lifted (seconds from the level's first request: a fault injected
  before Locust sent anything is negative);
- when the router stopped sending to the faulty engine: the last request sent to it after the
  injection (none while it kept sending until the fault was lifted);
- the requests it affected, by class (requests.csv's failure): the failed requests on its
  engine that were under way while it was on (sent before it was lifted, ended after it
  began: a request a hang held breaks only when the client gives up). A failed request no
  engine answered (its engine empty: a refused connection, a timeout) is the fault's by
  elimination when it names one engine and no fault of another engine was on meanwhile;
  faults of the router or of Prometheus take every failure under way while they were on;
- when service recovered: the last of its failures (seconds after the injection), and when its
  engine served a request again after the fault was lifted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import Any

from lab.results import summary

END = " end"  # lab.load.faults.END: the suffix of the event that lifts a fault
DONE = " done"  # lab.load.resilience: the row written when an event's action returned
Recorded = list[tuple[float, str, str]]


@dataclass(frozen=True)
class Window:
    label: str  # `hang engine-1`, `router_restart`
    engine: str  # "" for a fault of the router or Prometheus
    began: float
    ended: float  # when it was lifted (a router restart: when the restart was done)
    said: str  # what lifting it said (a Prometheus fault: the series it left missing)


def windows(recorded: Recorded) -> list[Window]:
    """Each fault of events.csv, with when it began and was lifted, in order."""
    begun = {name: when for when, name, detail in recorded if detail == "begin"}
    done = {name[: -len(DONE)]: (when, detail) for when, name, detail in recorded
            if name.endswith(DONE)}  # fmt: skip
    found = []
    for when, name, detail in recorded:
        kind, _, engine = name.partition(" ")
        if detail != "begin" or kind not in FAULTS or name.endswith(END):
            continue
        lifted = begun.get(name + END, done.get(name, (when, ""))[0])
        said = done.get(name + END, ("", ""))[1]
        found.append(Window(name, engine, when, lifted, said))
    return found


# The faults a faults scenario injects (lab.config.kinds.faults), as events.csv names them.
FAULTS = ("kill", "hang", "slow", "errors", "router_restart", "prometheus_down")


def figures(samples: list[summary.Sample], recorded: Recorded) -> list[dict[str, Any]]:
    """Per fault, in the order they began: the figures the module docstring lists."""
    faults = windows(recorded)
    t0 = min((s.start for s in samples), default=0.0)
    return [_one(window, faults, samples, t0) for window in faults]


def _one(w: Window, every: list[Window], samples: list[summary.Sample], t0: float) -> dict:
    mine = [s for s in samples if _attributed(s, w, every)]
    failed = [s for s in mine if not s.ok]
    sent = [s.start for s in mine if w.began <= s.start < w.ended]
    stopped = max(sent, default=w.began) if w.engine else None
    kept_on = bool(sent) and stopped is not None and stopped >= w.ended - 1.0
    again = [s.start for s in samples if s.ok and s.engine == w.engine and s.start >= w.ended]
    last_failure = max((s.end for s in failed), default=None)
    out: dict[str, Any] = {
        "fault": w.label,
        "engine": w.engine or None,
        "injected_s": round(w.began - t0, 3),
        "lifted_s": round(w.ended - t0, 3),
        "requests_affected": len(failed),
        "affected_by_class": dict(Counter(s.failure or summary.UNCLASSIFIED for s in failed)),
        "sent_to_engine_during": len(sent) if w.engine else None,
        "router_stopped_sending_after_s": (
            None if stopped is None or kept_on else round(stopped - w.began, 3)
        ),
        "recovered_after_s": (
            round(max(0.0, last_failure - w.began), 3) if last_failure is not None else 0.0
        ),
        "ttft_p50_on_engine_ms": _median(
            [s.ttft_ms for s in mine if s.ok and w.began <= s.start < w.ended]
        ),
        "engine_serving_again_after_lift_s": (
            round(min(again) - w.ended, 3) if w.engine and again else None
        ),
    }
    if w.label.startswith("prometheus_down"):
        out["missing_series"] = w.said.partition("; ")[2]  # after what lifting it did
    return out


def _median(values: list[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    return round(known[len(known) // 2], 3) if known else None


def _attributed(s: summary.Sample, w: Window, every: list[Window]) -> bool:
    """Did fault `w` touch request `s` (the module docstring's rule)? It did when it was on
    while the request was (sent before it was lifted, ended after it began), and the request
    was on its engine; or, for a failed request no engine answered, when no fault of another
    engine was on meanwhile."""
    if not (s.start <= w.ended and s.end >= w.began):
        return False
    if not w.engine:
        return not s.ok
    if s.engine or s.ok:
        return s.engine == w.engine
    others = [o for o in every if o.engine and o.engine != w.engine]
    return not any(s.start <= o.ended and s.end >= o.began for o in others)


SHOWN = (
    ("fault", "fault"),
    ("injected_s", "injected (s)"),
    ("lifted_s", "lifted (s)"),
    ("router_stopped_sending_after_s", "router stopped sending after (s)"),
    ("requests_affected", "requests affected"),
    ("affected_by_class", "by class"),
    ("recovered_after_s", "recovered after (s)"),
    ("engine_serving_again_after_lift_s", "engine serving again after lift (s)"),
    ("missing_series", "missing series"),
)


def timeline(levels: dict[str, dict[str, Any]]) -> str:
    """The report's timeline of a faults level: one row per fault, in the order they began
    (summary.json's `faults`; anything else there is shown as text, never obeyed)."""
    tables = []
    for level, values in levels.items():
        faults = values.get("faults")
        if not isinstance(faults, list) or not faults:
            continue
        head = "".join(f"<th>{escape(title)}</th>" for _, title in SHOWN)
        rows = [
            "<tr>" + "".join(f"<td>{escape(_said(f.get(k)))}</td>" for k, _ in SHOWN) + "</tr>"
            for f in faults
            if isinstance(f, dict)
        ]
        tables.append(
            f"<h3>Faults: {escape(level)}</h3><table><tr>{head}</tr>{''.join(rows)}</table>"
            "<p class='meta'>Times in seconds from the level's first request; affected: failed "
            "requests on the fault's engine while it lasted (by elimination when no engine "
            "answered them).</p>"
        )
    return "".join(tables)


def _said(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)
