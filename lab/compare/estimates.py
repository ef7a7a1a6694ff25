"""Each run's figures: for one level of one run, every metric's estimate with its within-run
noise, or the reason it has none. Computed once per run and level, whether the run is one side
of a comparison or one of a noise profile's repeated runs (and once per run in a benchmark
that compares many pairs of runs).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lab.compare import metrics as compare_metrics
from lab.compare import outcomes, stats
from lab.compare.metrics import LevelData, Metric
from lab.compare.runsets import Run, RunSet, Unit


@dataclass(frozen=True)
class LevelFigures:
    """One run's level: metric name -> its Estimate, or the reason it is n/a; and, per
    family, what its units were (requests, time windows, sessions)."""

    values: dict[str, stats.Estimate | str]
    methods: dict[str, str]


def level_figures(
    level: LevelData,
    metrics: Sequence[Metric],
    per_request_hits: bool,
    n_boot: int,
    seed: str,
) -> LevelFigures:
    """Every metric of one run's level. The bootstrap is seeded by `seed` and the family, so
    a comparison is reproducible. Where the load generator was the limit, what the client
    timed is n/a (client_limited); the rest (errors, hits, routing) is the stack's still.
    Metrics of a whole capacity search are left to lab.compare.capacity."""
    metrics = [m for m in metrics if m.per_level]
    if not level.measured:
        return LevelFigures({m.name: outcomes.NO_REQUESTS for m in metrics}, {})
    values: dict[str, stats.Estimate | str] = {}
    methods: dict[str, str] = {}
    for family in dict.fromkeys(m.family for m in metrics):
        chosen = [m for m in metrics if m.family == family]
        if level.client_limited and family in compare_metrics.CLIENT_TIMED:
            values.update({m.name: outcomes.CLIENT_LIMITED for m in chosen})
            continue
        if why := level.out_of_range.get(family):
            values.update({m.name: why for m in chosen})
            continue
        try:
            measure, methods[family] = compare_metrics.measure(family, level, per_request_hits)
        except LookupError as exc:
            values.update({m.name: str(exc.args[0]) for m in chosen})
            continue
        rng = np.random.default_rng(zlib.crc32(f"{seed}/{family}".encode()))
        found = stats.estimates(measure, chosen[0].log, n_boot, rng)
        members = compare_metrics.FAMILIES[family]
        values.update({m.name: found[members.index(m)] for m in chosen})
    return LevelFigures(values, methods)


def per_request_hits(levels: Sequence[LevelData]) -> bool:
    """Hit rates from the requests' own cached-token figures when every run reports them,
    else from the engines' counters (one value per run), the same way for every run."""
    return all(level.tells_cached_tokens() for level in levels)


def run_figures(
    run: Run, unit: Unit, metrics: Sequence[Metric], hits: bool, n_boot: int
) -> LevelFigures:
    level = run.scenarios[unit.scenario].levels[unit.level]
    seed = f"{unit.scenario}/{unit.level}/{run.folder.name}"
    return level_figures(level, metrics, hits, n_boot, seed)


def side_figures(
    side: RunSet, unit: Unit, metrics: Sequence[Metric], hits: bool, n_boot: int
) -> list[LevelFigures]:
    return [run_figures(run, unit, metrics, hits, n_boot) for run in side.runs]
