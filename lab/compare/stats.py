"""The statistics of a comparison: each run's figures with their sampling noise, and the
difference of two sides with run-to-run noise in it.

A `Measure` holds one run's units (requests, sessions, time windows) and computes one or more
statistics (say p50, p90 and p99 of TTFT) from any resampling of them. `estimates` gives each
statistic of one run on the scale it is tested on (the log for latencies and throughput, whose
changes are ratios; the value for rates, whose changes are points) with its within-run
variance, from a bootstrap of the run's units.

`difference` compares two sides of one or more runs each in a random-effects view: a run's
figure is the configuration's true value, plus the drift of the machine at that moment
(between-run variance), plus its own sampling noise (within-run variance). The run-to-run
variance comes from `Source`s, sets of repeated runs of one configuration: a side that is a
folder of runs, or a recorded noise profile; pooled, it gives the test its degrees of freedom.
With no source, only within-run noise is known, and the caller must not claim more than that.
`paired` compares pairs of runs (side-by-side repetitions, or runs made turn about), each A
beside its B, on their differences; where which arm went first alternates, as an AB/BA
crossover.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
from scipy.stats import t as student

N_BOOT = 1000  # resamples behind a run's within-run variance (its relative error about 4.5%)
CHUNK = 2_000_000  # resampled values held at once, to bound memory on large levels
FLOORED = ", floored at the runs' own sampling noise"  # said of a variance (_floored)
WITHIN_ONLY = "within-run only"  # the noise of single runs when nothing else is known


class Measure(Protocol):
    """One side's units and the statistics computed from them."""

    @property
    def size(self) -> int:
        """Number of units (the bootstrap resamples this many, with replacement)."""
        ...

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        """(B, size) unit indices -> (B, k) statistics, one row per resample."""
        ...


def point(measure: Measure) -> np.ndarray:
    """The statistics of the units as they are."""
    return measure.statistics(np.arange(measure.size)[None, :])[0]


@dataclass(frozen=True)
class Quantiles:
    """Percentiles of plain values (one value per unit)."""

    values: np.ndarray
    qs: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.values)

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        return np.percentile(self.values[rows], self.qs, axis=1).T


@dataclass(frozen=True)
class ClusteredQuantiles:
    """Percentiles of values pooled over units that each hold several (a request's token gaps).

    The bootstrap resamples whole units, since values within one are not independent. A
    resample is computed as the pooled values weighted by how often their unit was drawn,
    which gives numpy's (linear) percentiles exactly."""

    groups: tuple[np.ndarray, ...]
    qs: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.groups)

    @cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """All values in ascending order, and the unit each came from."""
        flat = np.concatenate(self.groups)
        owner = np.repeat(np.arange(len(self.groups)), [len(g) for g in self.groups])
        order = np.argsort(flat, kind="stable")
        return flat[order], owner[order]

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        values, owner = self._sorted
        step = max(1, CHUNK // max(1, len(values)))
        return np.concatenate(
            [self._weighted(rows[i : i + step], values, owner) for i in range(0, len(rows), step)]
        )

    def _weighted(self, rows: np.ndarray, values: np.ndarray, owner: np.ndarray) -> np.ndarray:
        cells = rows + self.size * np.arange(len(rows))[:, None]
        drawn = np.bincount(cells.ravel(), minlength=len(rows) * self.size)
        cumulative = np.cumsum(drawn.reshape(len(rows), self.size)[:, owner], axis=1)
        total = cumulative[:, -1]
        out = np.empty((len(rows), len(self.qs)))
        for k, q in enumerate(self.qs):
            position = (total - 1) * q / 100
            low = np.floor(position)
            below = (cumulative <= low[:, None]).sum(axis=1)
            above = (cumulative <= np.minimum(low + 1, total - 1)[:, None]).sum(axis=1)
            out[:, k] = values[below] + (position - low) * (values[above] - values[below])
        return out


@dataclass(frozen=True)
class PooledRatio:
    """sum(numerator) / sum(denominator) over units (cached over prompt tokens of requests).
    For a share of requests that is a count (failed ones), `counted` is how many units count
    as a whole (lab.compare.counts); None for ratios that are not counts."""

    numerator: np.ndarray
    denominator: np.ndarray
    counted: int | None = None

    @property
    def size(self) -> int:
        return len(self.numerator)

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        den = self.denominator[rows].sum(axis=1)
        num = self.numerator[rows].sum(axis=1)
        return np.divide(num, den, out=np.full(len(rows), np.nan), where=den > 0)[:, None]


@dataclass(frozen=True)
class Means:
    """Column means of per-unit values (size, k): failure flags, session shares, windows."""

    values: np.ndarray

    @property
    def size(self) -> int:
        return len(self.values)

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        return self.values[rows].mean(axis=1)


@dataclass(frozen=True)
class Balance:
    """min/max of the units' counts per category (requests per engine)."""

    codes: np.ndarray  # category index of each unit
    categories: int

    @property
    def size(self) -> int:
        return len(self.codes)

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        cells = self.codes[rows] + self.categories * np.arange(len(rows))[:, None]
        counts = np.bincount(cells.ravel(), minlength=len(rows) * self.categories)
        counts = counts.reshape(len(rows), self.categories)
        top = counts.max(axis=1)
        return np.divide(counts.min(axis=1), top, out=np.zeros(len(rows)), where=top > 0)[:, None]


@dataclass(frozen=True)
class Fixed:
    """Values known without their units (engine counters of one run): nothing to resample, so
    the run's own sampling noise is unknown."""

    values: tuple[float, ...]
    size: int = 1

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(np.array(self.values, dtype=float), (len(rows), 1))


def bootstrap(measure: Measure, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, k) statistics of resamples of the measure's units, with replacement."""
    per_chunk = max(1, CHUNK // max(1, measure.size))
    parts = []
    for start in range(0, n_boot, per_chunk):
        rows = rng.integers(0, measure.size, (min(per_chunk, n_boot - start), measure.size))
        parts.append(measure.statistics(rows))
    return np.concatenate(parts)


@dataclass(frozen=True)
class Estimate:
    """One run's figure for one statistic: its value, the value on the test's scale (its log
    for ratios), and the variance of that from the run's own units (None: unknown); for a
    rate that is a count, (units counted, units)."""

    value: float
    y: float
    within: float | None
    units: int
    counts: tuple[int, int] | None = None


def estimates(
    measure: Measure, log: bool, n_boot: int, rng: np.random.Generator
) -> list[Estimate | str]:
    """Each statistic of one run's measure as an Estimate, or the reason it has none."""
    values = point(measure)
    spread: list[float | None] = [None] * len(values)
    if measure.size > 1:
        resampled = bootstrap(measure, n_boot, rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.log(resampled) if log else resampled
        spread = [_variance(column) for column in scaled.T]
    counted = measure.counted if isinstance(measure, PooledRatio) else None
    counts = None if counted is None else (counted, measure.size)
    out: list[Estimate | str] = []
    for value, within in zip(values, spread, strict=True):
        if not np.isfinite(value):
            out.append("not measurable")
        elif log and value <= 0:
            out.append("a value of 0: no relative change")
        else:
            y = float(np.log(value)) if log else float(value)
            out.append(Estimate(float(value), y, within, measure.size, counts))
    return out


def _variance(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.var(finite, ddof=1)) if finite.size > 1 else None


@dataclass(frozen=True)
class Source:
    """The run-to-run spread of one statistic over repeated runs of one configuration: the
    variance of their figures on the test's scale (within-run noise included), its degrees of
    freedom, and the mean within-run part of it."""

    name: str
    var: float
    within: float
    df: int

    @property
    def between(self) -> float:
        """The part due to drift between runs (method of moments, never below 0)."""
        return max(0.0, self.var - self.within)


def source(name: str, figures: list[Estimate]) -> Source | None:
    """The spread of repeated runs' figures; None for fewer than two runs."""
    if len(figures) < 2:
        return None
    ys = np.array([f.y for f in figures])
    within = [f.within for f in figures if f.within is not None]
    return Source(name, float(np.var(ys, ddof=1)), float(np.mean(within or [0.0])), len(ys) - 1)


@dataclass(frozen=True)
class Change:
    """B against A for one statistic. a and b are each side's figure (for ratios the geometric
    mean of its runs', so b / a = exp(d), except in a crossover whose orders have unequal
    numbers of pairs); d is B - A on the test's scale, se its standard error with df degrees
    of freedom. p_up is the one-sided p-value of B above A; None when
    nothing can be tested, and then `untestable` says why. An exact test on counts
    (lab.compare.counts) sets `exact` and its own p_down, since its two one-sided p-values
    do not add up to 1."""

    a: float
    b: float
    d: float
    se: float
    df: float
    log: bool
    noise: str  # what the standard error is made of
    p_up: float | None
    untestable: str = ""
    p_down: float | None = None
    exact: bool = False

    @property
    def diff(self) -> float:
        return self.b - self.a

    @property
    def rel(self) -> float | None:
        """(B - A) / A; None when A is 0."""
        return self.diff / self.a if self.a else None

    def p(self, up: bool) -> float | None:
        """One-sided p-value of a change in that direction."""
        if self.p_up is None:
            return None
        if up:
            return self.p_up
        return 1.0 - self.p_up if self.p_down is None else self.p_down

    def interval(self, alpha: float) -> tuple[float, float]:
        """The two-sided 1 - 2·alpha interval of d, whose bound on the side of zero is the
        one-sided 1 - alpha bound."""
        if self.p_up is None or self.se == 0:
            return (self.d, self.d)
        half = float(student.ppf(1 - alpha, self.df)) * self.se
        return (self.d - half, self.d + half)

    def reach(self, alpha: float, power: float = 0.95) -> float | None:
        """The smallest change (on the test's scale) that a one-sided test at alpha finds
        with this power: (t(1 - alpha) + t(power)) · se; None where no spread is known (an
        exact test on counts with no spread on either side)."""
        if self.p_up is None or self.se == 0:
            return None
        return float((student.ppf(1 - alpha, self.df) + student.ppf(power, self.df)) * self.se)


def difference(a: list[Estimate], b: list[Estimate], sources: list[Source], log: bool) -> Change:
    """B against A: the mean of B's runs minus the mean of A's on the test's scale, with

        se² = σ²·(1/n_A + 1/n_B) + max(0, W - w·(1/n_A + 1/n_B))

    where σ² is the run-to-run variance pooled over the sources (df = their sum), w their
    mean within-run part and W the within-run part of the runs compared: when those are
    noisier than the sources' runs (fewer requests), the excess is added; when quieter, the
    sources' variance is kept (conservative). With runs of equal sizes this is Student's
    pooled t-test on the runs' figures. σ² is never taken below w (see _floored). With no
    source, se² = W alone (within-run noise only, degrees of freedom by Welch–Satterthwaite)."""
    d = _mean(b) - _mean(a)

    def made(se: float, df: float, noise: str, untestable: str = "") -> Change:
        return _change(a, b, d, se, df, log, noise, untestable)

    within, welch = _sampling(a, b)
    if sources:
        df = sum(s.df for s in sources)
        within_sources = sum(s.df * s.within for s in sources) / df
        pooled = sum(s.df * s.var for s in sources) / df
        var, dof, floored = _floored(pooled, df, within_sources, welch)
        k = 1 / len(a) + 1 / len(b)
        se = np.sqrt(k * var + max(0.0, within - k * within_sources))
        return made(float(se), dof, f"{' + '.join(s.name for s in sources)} (df {df}){floored}")
    if welch is None:
        return made(0.0, 0.0, "none", "one value per run (engine counters)")
    return made(float(np.sqrt(within)), welch, WITHIN_ONLY)


def paired(
    a: list[Estimate],
    b: list[Estimate],
    log: bool,
    pairs: str = "side-by-side repetitions",
    orders: Sequence[str] = (),
) -> Change:
    """B against A over pairs of runs (a[i] beside b[i]; `pairs` says what made them pairs): the
    mean of the pairs' differences on the test's scale, its standard error from their spread
    (Student's paired t-test, df = pairs - 1), never below the runs' own sampling noise
    (_floored). What drifted within a pair (side by side: what slowed the machine during a
    repetition) fell on both and cancels; what did not (each arm's own queueing) is in the
    spread. At least two pairs.

    `orders` says, pair by pair, which arm went first (side by side: came up first). Where
    each of two orders has two pairs or more, the pairs are an AB/BA crossover: the change is
    the mean of the two orders' mean differences, so whatever going first does to an arm
    cancels exactly, and the spread is measured within each order (df = pairs - 2) instead of
    carrying that effect."""
    diffs = np.array([eb.y - ea.y for ea, eb in zip(a, b, strict=True)])
    n = len(diffs)
    within, welch = _sampling(a, b)  # the variance of the mean difference from sampling alone
    own = n * within  # ... of one pair's difference
    if is_crossover(orders):
        groups = [diffs[np.array(orders) == label] for label in sorted(set(orders))]
        d = float(np.mean([g.mean() for g in groups]))
        spread = sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / (n - 2)
        var, df, floored = _floored(spread, n - 2, own, welch)
        share = sum(1 / len(g) for g in groups) / 4  # Var(d) per unit of one pair's variance
        noise = f"{n} {pairs}, paired, AB/BA crossover (df {n - 2}){floored}"
        return _change(a, b, d, float(np.sqrt(var * share)), df, log, noise)
    var, df, floored = _floored(float(diffs.var(ddof=1)), n - 1, own, welch)
    noise = f"{n} {pairs}, paired (df {n - 1}){floored}"
    return _change(a, b, float(diffs.mean()), float(np.sqrt(var / n)), df, log, noise)


def is_crossover(orders: Sequence[str]) -> bool:
    """Whether pairs run in these orders make an AB/BA crossover: two orders, each in two pairs
    or more, so that each order's differences have a spread of their own."""
    counts = Counter(orders)
    return len(counts) == 2 and min(counts.values()) >= 2


def _sampling(a: list[Estimate], b: list[Estimate]) -> tuple[float, float | None]:
    """The variance of B's mean minus A's from the runs' own sampling noise alone (of the runs
    that know theirs), with its Welch–Satterthwaite degrees of freedom (their units); None when
    a run does not know its own (an engine counter: one value a run)."""
    parts = [(e.within, e.units, len(a)) for e in a] + [(e.within, e.units, len(b)) for e in b]
    within = sum(w / n**2 for w, _, n in parts if w is not None)
    terms = [(w / n**2, units - 1) for w, units, n in parts if w is not None and units > 1]
    spread = sum(c**2 / dof for c, dof in terms)
    known = all(w is not None for w, _, _ in parts)
    return within, (float(within**2 / spread if spread else np.inf) if known else None)


def _floored(
    var: float, df: float, within: float, within_df: float | None
) -> tuple[float, float, str]:
    """The run-to-run variance and its degrees of freedom (and words saying when it was floored),
    never below the runs' mean sampling variance `within` (with `within_df`; None: unknown): a
    run's figure moves at least by its own sampling noise, while a few runs can agree far more
    closely by chance, above all for a statistic whose sampling distribution has two modes (on
    a quiet machine the routing level's TTFT p90 fell near 150 or near 100 ms, its bootstrap sd
    17%; three runs of one mode agreed within 1%, and 3-against-3 splits failed the gate in 6
    of 45 A/A comparisons). The floor is the bootstrap's, known from the runs' many units, so
    it takes their degrees of freedom (Welch–Satterthwaite), not the runs'."""
    if var >= within or within_df is None:
        return var, df, ""
    return within, within_df, FLOORED


def _mean(side: list[Estimate]) -> float:
    return float(np.mean([e.y for e in side]))


def _change(
    a: list[Estimate],
    b: list[Estimate],
    d: float,
    se: float,
    df: float,
    log: bool,
    noise: str,
    untestable: str = "",
) -> Change:
    """The Change of B against A with this difference and standard error; each side's figure
    is the mean of its runs' (geometric for ratios). Nothing to test without a spread."""
    side_a, side_b = (float(np.exp(m)) if log else m for m in (_mean(a), _mean(b)))
    if untestable or se == 0:
        reason = untestable or ("" if d == 0 else "no spread to judge by")
        return Change(side_a, side_b, d, se, df, log, noise, None, reason)
    return Change(side_a, side_b, d, se, df, log, noise, float(student.sf(d / se, df)))
