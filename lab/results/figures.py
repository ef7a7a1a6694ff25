"""A level's figures as summary.json records them: computed from the level's files (its
requests, the engines' counter deltas, its gauges and its load generator's CPU) once the level
has ended, with the figures its scenario kind makes beyond every level's (lab.config.kinds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.config import kinds
from lab.config.kinds.base import RESILIENCE
from lab.config.kinds.plan import Level
from lab.config.slo import Slo
from lab.inproc.samples import CPU_FILE
from lab.results import resilience_figures, series, summary
from lab.stack.endpoints import Engine

SUMMARY = "summary.json"


def offered(level: Level) -> dict[str, Any]:
    """What a level offered: its arrival rate (open loop) and users."""
    return {"offered_rps": level.rate, "users": level.users}


def summarize_level(
    place: Path,
    level: str,
    deltas: dict,
    kind: str,
    engine: Engine | None,
    slo: Slo | None = None,
    load: dict[str, Any] | None = None,
    shared: bool = False,
) -> dict:
    """The figures of a level (summary.json), from its samples in place/requests.csv. On a
    `shared` stack, engines that served more requests than the lab sent also served others':
    every figure built from their counters is then n/a, with that reason."""
    samples = [s for s in summary.read_samples(place / "requests.csv") if s.level == level]
    foreign = foreign_traffic(samples, deltas) if shared else ""
    figures = summary.summarize(samples, {} if foreign else deltas)
    if foreign:
        figures["foreign_traffic"] = foreign
    figures.update(load or {})
    if slo is not None:
        figures["slo_met"] = slo.met(figures["slo_attainment"], figures["error_rate"])
    cpu = summary.read_cpu(place / level / CPU_FILE)
    figures.update(summary.client_figures(samples, cpu, figures.get("slo_met")))
    measured = [s for s in samples if s.measured]
    span = (min(s.start for s in measured), max(s.end for s in measured)) if measured else None
    figures.update(series.figures(series.read(place / series.FILE), level, span))
    if RESILIENCE in kinds.get(kind).figures:
        # Every request, drained ones included: none may be lost without a word.
        figures.update(resilience_figures.figures(place, samples, kind, engine))
    return figures


def foreign_traffic(samples: list[summary.Sample], deltas: dict) -> str:
    """Why the engines' counters say nothing of the lab's requests, or ""."""
    served = sum(counters.get("requests", 0.0) for counters in deltas.values())
    if served <= len(samples):
        return ""
    return (
        f"n/a: foreign traffic: the engines served {served:g} requests while the lab sent "
        f"{len(samples)}; figures from their counters are not the lab's"
    )


def write(
    place: Path,
    levels: dict[str, dict[str, Any]],
    slo: Slo | None = None,
    capacity: dict[str, Any] | None = None,
) -> None:
    """A scenario's summary.json: each level's figures, the SLO they were judged by, and a
    capacity search's result."""
    written: dict[str, Any] = {"levels": levels}
    if slo is not None:
        written["slo"] = slo.to_json()
    if capacity is not None:
        written["capacity"] = capacity
    (place / SUMMARY).write_text(json.dumps(written, indent=2) + "\n")
