"""A capacity search as a compared unit. Its `capacity_rps` (lab.load.capacity's result, kept in
the scenario's summary.json) is one figure per run of the whole search, not of a level, so it
is compared on a unit of its own, `<scenario>/search`, beside the search's steps (levels).

A run's figure is its capacity on the log scale (a change of capacity is a ratio). Its
within-run variance comes from the run's own capacity interval: the bracket the search stopped
at (last pass, first fail), widened past a bracketing step whose verdict sampling noise could
turn. Where in that interval the capacity lies the run cannot tell, so it is taken as uniform
on the log of the interval, whose variance is ln(high/low)²/12. When both bracketing verdicts
are sure that is the bracket's own resolution (a 10% precision: a standard error of 2.8%).
Reading the interval as a normal 95% one instead (sd ln(high/low)/3.92) would claim the
capacity is likelier mid-bracket than at its ends, which a search that stopped there cannot
know, and would give a smaller variance. Run-to-run variance comes from folders of runs and
noise profiles, as for every metric (lab.compare.stats).

A run has no capacity to compare, n/a with the reason (lab.compare.outcomes), when its search
bracketed nothing, its load generator was the limit, or its interval is open; and no run has
one when their SLOs differ, since capacities under different SLOs measure different things.
"""

from __future__ import annotations

import json
import math
from typing import Any

from lab.compare import metrics as compare_metrics
from lab.compare import outcomes, stats
from lab.compare.estimates import LevelFigures
from lab.compare.runsets import Run, RunSet, Unit
from lab.errors import ConfigError
from lab.files import shorten
from lab.results import folder as results

KIND = "capacity"  # the scenario kind that searches
LEVEL = "search"  # the unit's level: the search as a whole
METRIC = "capacity_rps"
FAMILY = compare_metrics.BY_NAME[METRIC].family
METHOD = "the run's capacity interval (uniform on its log)"

Result = dict[str, Any]  # summary.json's `capacity` (lab.load.capacity.Search.result)
NEEDED = ("capacity_rps", "client_limited", "interval", "slo", "statement")  # of a Result
ENDS = ("low_rps", "high_rps")  # of its interval


def units(side: RunSet) -> list[Unit]:
    """One unit per capacity search every run of the side ran (whichever steps each tried)."""
    first, *rest = side.runs
    return [
        Unit(name, KIND, LEVEL)
        for name, scenario in first.scenarios.items()
        if scenario.kind == KIND and all(name in run.scenarios for run in rest)
    ]


def common(a: RunSet, b: RunSet) -> list[Unit]:
    """The capacity searches both sides ran."""
    in_b = units(b)
    return [unit for unit in units(a) if unit in in_b]


def result(run: Run, scenario: str) -> Result | None:
    """The search's outcome as the run recorded it, if it did; ConfigError when what compare
    reads of it is not there."""
    path = run.folder / scenario / "summary.json"
    found = results.read_summary(path.parent).get("capacity")
    if found is None:
        return None
    if not isinstance(found, dict) or not isinstance(found.get("interval") or {}, dict):
        raise ConfigError(f"{path}: capacity: expected a mapping with an interval mapping")
    missing = [k for k in NEEDED if k not in found]
    missing += [f"interval.{k}" for k in ENDS if k not in (found.get("interval") or {})]
    if missing:
        raise ConfigError(f"{path}: capacity lacks {', '.join(missing)}")
    return found


def figure(found: Result | None) -> stats.Estimate | str:
    """A run's capacity on the log scale with its within-run variance, or why it has none."""
    if found is None:
        return outcomes.NO_CAPACITY
    if found["client_limited"]:
        return outcomes.CLIENT_LIMITED
    if found["capacity_rps"] is None:
        return outcomes.NOT_BRACKETED
    low, high = (found["interval"][end] for end in ENDS)
    if low is None or high is None:
        return outcomes.INTERVAL_OPEN
    if why := implausible(found["capacity_rps"], low, high):
        return why
    capacity = float(found["capacity_rps"])
    # One figure per run: its variance is not estimated from resampled units, so no
    # Welch degrees of freedom are owed to it (units 1).
    return stats.Estimate(capacity, math.log(capacity), within(low, high), 1)


def implausible(capacity: Any, low: Any, high: Any) -> str | None:
    """Why a recorded capacity and its interval cannot be a search's outcome (numbers above
    0, low <= capacity <= high), or None: such a run has no capacity to compare, and says why,
    rather than being counted."""
    named = {"capacity_rps": capacity, "interval.low_rps": low, "interval.high_rps": high}
    for name, value in named.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            return (
                f"summary.json: capacity: {name} {shorten(repr(value), 40)} is not a rate above 0"
            )
    if not low <= capacity <= high:
        return f"summary.json: capacity: {capacity} is outside its interval [{low}, {high}]"
    return None


def within(low: float, high: float) -> float:
    """Variance of ln(capacity) uniform on [ln low, ln high] (see the module's docstring)."""
    return math.log(high / low) ** 2 / 12


def run_figures(side: RunSet, unit: Unit) -> list[LevelFigures]:
    """Each run's figure, as lab.compare.estimates gives a level's (a noise profile's runs)."""
    return [_figures(figure(result(run, unit.scenario))) for run in side.runs]


def figures(
    a: RunSet, b: RunSet, unit: Unit
) -> tuple[list[LevelFigures], list[LevelFigures], list[str]]:
    """Both sides' figures for a comparison, and notes on what made any n/a: every run's when
    the runs' SLOs differ."""
    found_a, found_b = ([result(run, unit.scenario) for run in side.runs] for side in (a, b))
    slos = [json.dumps(r["slo"], sort_keys=True) for r in found_a + found_b if r]
    if len(set(slos)) > 1:
        note = (
            f"{unit.scenario}: the runs searched under different SLOs "
            f"({'; '.join(dict.fromkeys(slos))}): {METRIC} is n/a"
        )
        na = _figures(outcomes.SLO_DIFFERS)
        return [na] * len(found_a), [na] * len(found_b), [note]
    side_a, notes_a = _side(a, unit, found_a)
    side_b, notes_b = _side(b, unit, found_b)
    return side_a, side_b, notes_a + notes_b


def _side(
    side: RunSet, unit: Unit, found: list[Result | None]
) -> tuple[list[LevelFigures], list[str]]:
    """A side's figures: all n/a when one of its runs has none, since a mean over the runs that
    bracketed would leave out those that met the SLO at max_rate or were held back by their
    load generator, and read low."""
    values = [figure(r) for r in found]
    notes = [
        f"{run.folder}: no {METRIC} in {unit.scenario} ({value})"
        + (f": {r['statement']}" if r else "")
        for run, value, r in zip(side.runs, values, found, strict=True)
        if isinstance(value, str)
    ]
    reasons = [v for v in values if isinstance(v, str)]
    if reasons:
        values = [reasons[0]] * len(values)
    return [_figures(v) for v in values], notes


def _figures(value: stats.Estimate | str) -> LevelFigures:
    return LevelFigures({METRIC: value}, {FAMILY: METHOD})
