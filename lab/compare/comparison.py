"""Compare two runs, or two sets of repeated runs: per scenario, level and metric, how B differs
from A, how sure that is, and a verdict (better, worse, no significant change, n/a).

Statistical units: with one run on either side, the requests of a level (sessions for
stickiness, time windows for throughput); with repeated runs on both sides, the runs, each
summarised by the same statistic (benchstat's practice: requests within a run are not
independent, runs are). A change is significant when the rank test, one-sided in the
direction of the change, rejects at alpha and the bootstrap interval agrees; it gets a verdict
only if it is also beyond its threshold.
Rendering is lab.compare.report's; this module only computes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lab.compare import metrics as compare_metrics
from lab.compare import runsets, stats
from lab.compare.metrics import Metric
from lab.compare.runsets import RunSet, Unit
from lab.errors import ConfigError
from lab.results import summary

ALPHA = 0.05
# Latencies whose spread the log-normal model of stats.detectable fits well enough; TPOT and
# ITL pile up near zero when tokens arrive in bursts, where it does not.
SEEN = ("ttft", "e2e")
BETTER, WORSE, SAME, MISSING = "better", "worse", "no significant change", "n/a"


@dataclass(frozen=True)
class Row:
    unit: Unit
    metric: Metric
    change: stats.Change | None  # None: the metric is missing on a side
    threshold: float
    significant: bool
    beyond: bool
    verdict: str
    method: str
    n_a: int
    n_b: int
    detectable: float | None = None  # latency shift (fraction) found 95% of the time


@dataclass
class Comparison:
    a: RunSet
    b: RunSet
    alpha: float
    thresholds: dict[str, float]
    by_runs: bool  # runs are the units (both sides repeated)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ttft: dict[Unit, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == WORSE]


def verdict(
    metric: Metric, change: stats.Change | None, threshold: float, alpha: float
) -> tuple[str, bool, bool]:
    """(verdict, significant, beyond threshold). A change is better or worse only when it is
    both significant and beyond the threshold (percent of A, or points for rates); the
    direction that is good is the metric's."""
    if change is None:
        return MISSING, False, False
    significant = change.significant(alpha)
    beyond = abs(size(metric, change)) > threshold
    if not (significant and beyond):
        return SAME, significant, beyond
    up = change.diff > 0
    return (BETTER if up == metric.higher_is_better else WORSE), significant, beyond


def size(metric: Metric, change: stats.Change) -> float:
    """The change in the threshold's unit: percent of A, or percentage points."""
    if metric.relative:
        if change.rel is None:
            return 0.0 if change.diff == 0 else float("inf")
        return 100 * change.rel
    return 100 * change.diff


def compare(
    a: RunSet,
    b: RunSet,
    metrics: list[Metric],
    thresholds: dict[str, float],
    alpha: float = ALPHA,
    n_boot: int = stats.N_BOOT,
) -> Comparison:
    """Every metric of every unit both sides have. Raises ConfigError for unusable input."""
    if not 0 < alpha < 0.5:
        raise ConfigError(f"--alpha {alpha}: must be between 0 and 0.5")
    units, notes = runsets.common_units(a, b)
    by_runs = len(a.runs) > 1 and len(b.runs) > 1
    if not by_runs and (len(a.runs) > 1 or len(b.runs) > 1):
        notes.append(
            "one side has a single run: requests of repeated runs are pooled, requests are "
            "the units (repeat both sides for runs as units)"
        )
    result = Comparison(a, b, alpha, thresholds, by_runs, notes=notes)
    families = list(dict.fromkeys(m.family for m in metrics))
    for unit in units:
        levels_a, levels_b = runsets.levels(a, unit), runsets.levels(b, unit)
        hits = all(lv.tells_cached_tokens() for lv in levels_a + levels_b)
        limited = _client_limited(levels_a, levels_b)
        for family in families:
            chosen = [m for m in metrics if m.family == family]
            if limited and family in CLIENT_BOUND:
                result.rows += [_not_applicable(unit, m, result, CLIENT_LIMITED) for m in chosen]
                continue
            result.rows += _family(unit, family, chosen, levels_a, levels_b, hits, result, n_boot)
        if limited:
            result.notes.append(f"{unit.scenario}/{unit.level}: {CLIENT_LIMITED}: {limited}")
        if any(m.family == "ttft" for m in metrics):
            result.ttft[unit] = (_pooled_ttft(levels_a), _pooled_ttft(levels_b))
    return result


def _family(
    unit: Unit,
    family: str,
    metrics: list[Metric],
    levels_a: list[compare_metrics.LevelData],
    levels_b: list[compare_metrics.LevelData],
    per_request_hits: bool,
    result: Comparison,
    n_boot: int,
) -> list[Row]:
    members = compare_metrics.FAMILIES[family]
    try:
        (measure_a, method), (measure_b, _) = (
            _side(family, levels, per_request_hits, result.by_runs)
            for levels in (levels_a, levels_b)
        )
    except LookupError:
        return [
            Row(unit, m, None, _threshold(m, result), False, False, MISSING, "", 0, 0)
            for m in metrics
        ]
    if measure_a.size < 2 or measure_b.size < 2:
        method += "; too few units to test: repeat the runs"
    seen = None
    if family in SEEN and not result.by_runs:
        ranks_a, ranks_b = measure_a.ranks(), measure_b.ranks()
        assert ranks_a is not None and ranks_b is not None
        seen = stats.detectable(ranks_a[:, 0], ranks_b[:, 0], result.alpha)
    seed = zlib.crc32(f"{unit.scenario}/{unit.level}/{family}".encode())
    changes = stats.change(measure_a, measure_b, result.alpha, n_boot, seed)
    rows = []
    for metric in metrics:
        change = changes[members.index(metric)]
        threshold = _threshold(metric, result)
        word, significant, beyond = verdict(metric, change, threshold, result.alpha)
        rows.append(
            Row(
                unit=unit,
                metric=metric,
                change=change,
                threshold=threshold,
                significant=significant,
                beyond=beyond,
                verdict=word,
                method=method,
                n_a=measure_a.size,
                n_b=measure_b.size,
                detectable=seen,
            )
        )
    return rows


# A level whose load generator was the limit measured the client: its latencies and throughput
# are n/a, whatever they say (lab.results.summary.client_limit).
CLIENT_BOUND = ("ttft", "tpot", "itl", "e2e", "throughput")
CLIENT_LIMITED = "client_limited"


def _client_limited(
    levels_a: list[compare_metrics.LevelData], levels_b: list[compare_metrics.LevelData]
) -> str:
    """Why any run of either side had its load generator as the limit ('' when none did)."""
    return "; ".join(sorted({lv.client_limited for lv in levels_a + levels_b if lv.client_limited}))


def _not_applicable(unit: Unit, metric: Metric, result: Comparison, reason: str) -> Row:
    return Row(unit, metric, None, _threshold(metric, result), False, False, MISSING, reason, 0, 0)


def _threshold(metric: Metric, result: Comparison) -> float:
    return result.thresholds.get(metric.name, metric.threshold)


def _side(
    family: str, levels: list[compare_metrics.LevelData], per_request_hits: bool, by_runs: bool
) -> tuple[stats.Measure, str]:
    """A side's measure: per-run values when runs are the units, else the pooled requests."""
    if not by_runs:
        pooled = compare_metrics.LevelData(
            [s for lv in levels for s in lv.samples], _summed_engines(levels)
        )
        return compare_metrics.measure(family, pooled, per_request_hits)
    values = []
    for level in levels:
        try:
            values.append(stats.point(compare_metrics.measure(family, level, per_request_hits)[0]))
        except LookupError:
            continue
    if not values:
        raise LookupError(family)
    return stats.Medians(np.array(values)), f"runs (median of {len(values)})"


def _summed_engines(levels: list[compare_metrics.LevelData]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for level in levels:
        for engine, counters in level.engines.items():
            mine = out.setdefault(engine, {})
            for key, value in counters.items():
                mine[key] = mine.get(key, 0.0) + value
    return out


def _pooled_ttft(levels: list[compare_metrics.LevelData]) -> np.ndarray:
    return np.array([v for lv in levels for v in summary.values(lv.samples, "ttft_ms")])


def default_out(a: RunSet, b: RunSet, base: Path = Path("results")) -> Path:
    """results/compare-<UTC time>-<A>-vs-<B>, a name not yet taken."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"compare-{stamp}-{a.name[:40]}-vs-{b.name[:40]}"
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        if not (base / f"{name}{suffix}").exists():
            return base / f"{name}{suffix}"
    raise ConfigError(f"{base}: no free folder name for {name}")


def exit_code(result: Comparison, fail_on_regression: bool) -> int:
    """1 when regressions fail the run (--fail-on-regression), else 0."""
    return 1 if fail_on_regression and result.regressions else 0


def check_out(out: Path) -> None:
    """The output folder must be new (or empty): a comparison never overwrites."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: exists and is not empty; a comparison never overwrites")
