"""The statistics of a comparison, over units: requests, sessions, time windows or runs.

A `Measure` holds one side's units and computes one or more statistics (say p50, p90 and p99
of TTFT) from any resampling of them. `change` compares two measures: the point change of
each statistic, a percentile-bootstrap confidence interval for it (each side resampled on its
own, so the interval carries both sides' sampling noise), and a p-value: Mann–Whitney U on
the units' values where a unit has a value to rank, otherwise the bootstrap's own test.

Verdicts are directional (B worse than A, B better than A), so the tests are one-sided in the
direction of the observed change, at alpha each; the interval is the two-sided 1 - 2·alpha one
(90% for alpha 0.05), whose bound on the side of zero is the one-sided 1 - alpha bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
from scipy.stats import mannwhitneyu, norm

N_BOOT = 2000
CHUNK = 2_000_000  # resampled values held at once, to bound memory on large levels


class Measure(Protocol):
    """One side's units and the statistics computed from them."""

    size: int  # number of units (the bootstrap resamples this many, with replacement)

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        """(B, size) unit indices -> (B, k) statistics, one row per resample."""
        ...

    def ranks(self) -> np.ndarray | None:
        """(size, k) or (size, 1) per-unit values for Mann–Whitney, None if units have none."""
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

    def ranks(self) -> np.ndarray:
        return self.values[:, None]


@dataclass(frozen=True)
class ClusteredQuantiles:
    """Percentiles of values pooled over units that each hold several (a request's token gaps).

    The bootstrap resamples whole units, since values within one are not independent; the
    rank test compares the units' means. A resample is computed as the pooled values weighted
    by how often their unit was drawn, which gives numpy's (linear) percentiles exactly."""

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

    def ranks(self) -> np.ndarray:
        return np.array([g.mean() for g in self.groups])[:, None]


@dataclass(frozen=True)
class PooledRatio:
    """sum(numerator) / sum(denominator) over units (cached over prompt tokens of requests);
    the rank test compares the units' own ratios."""

    numerator: np.ndarray
    denominator: np.ndarray

    @property
    def size(self) -> int:
        return len(self.numerator)

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        den = self.denominator[rows].sum(axis=1)
        num = self.numerator[rows].sum(axis=1)
        return np.divide(num, den, out=np.full(len(rows), np.nan), where=den > 0)[:, None]

    def ranks(self) -> np.ndarray:
        return (self.numerator / np.where(self.denominator > 0, self.denominator, 1))[:, None]


@dataclass(frozen=True)
class Means:
    """Column means of per-unit values (size, k): failure flags, session shares, windows."""

    values: np.ndarray

    @property
    def size(self) -> int:
        return len(self.values)

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        return self.values[rows].mean(axis=1)

    def ranks(self) -> np.ndarray:
        return self.values


@dataclass(frozen=True)
class Medians:
    """Column medians of per-run values (runs, k): repeated runs, each run one unit."""

    values: np.ndarray

    @property
    def size(self) -> int:
        return len(self.values)

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        return np.median(self.values[rows], axis=1)

    def ranks(self) -> np.ndarray:
        return self.values


@dataclass(frozen=True)
class Balance:
    """min/max of the units' counts per category (requests per engine); no rank test."""

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

    def ranks(self) -> None:
        return None


@dataclass(frozen=True)
class Fixed:
    """Values known without their units (engine counters of one run): no spread, no test."""

    values: tuple[float, ...]
    size: int = 1

    def statistics(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(np.array(self.values, dtype=float), (len(rows), 1))

    def ranks(self) -> None:
        return None


@dataclass(frozen=True)
class Change:
    """B against A for one statistic. rel is the change over A (None when A is 0); the
    interval bounds are for the same quantities; p is None when nothing can be tested."""

    a: float
    b: float
    diff: float
    diff_low: float
    diff_high: float
    rel: float | None
    rel_low: float | None
    rel_high: float | None
    p: float | None  # one-sided, in the direction of the change; 1 when there is none
    test: str  # mann-whitney, bootstrap, or none

    def significant(self, alpha: float) -> bool:
        """The one-sided test rejects at alpha and the interval's bound on the side of zero
        (the one-sided 1 - alpha bound) excludes zero."""
        if self.p is None or self.p >= alpha or self.diff == 0:
            return False
        return self.diff_low > 0 if self.diff > 0 else self.diff_high < 0


def change(
    a: Measure, b: Measure, alpha: float = 0.05, n_boot: int = N_BOOT, seed: int = 0
) -> list[Change]:
    """One Change per statistic of the two measures (which must compute the same ones)."""
    rng = np.random.default_rng(seed)
    point_a, point_b = point(a), point(b)
    boot_a, boot_b = _bootstrap(a, n_boot, rng), _bootstrap(b, n_boot, rng)
    diffs = boot_b - boot_a
    with np.errstate(divide="ignore", invalid="ignore"):
        rels = np.where(boot_a != 0, diffs / boot_a, np.nan)
    tails = (100 * alpha, 100 * (1 - alpha))
    p_values = _p_values(a, b, diffs, np.sign(point_b - point_a))
    out = []
    for k, (pa, pb) in enumerate(zip(point_a, point_b, strict=True)):
        d_low, d_high = _interval(diffs[:, k], tails)
        rel = (pb - pa) / pa if pa else None
        r_low, r_high = _interval(rels[:, k], tails) if rel is not None else (None, None)
        p, test = p_values[k]
        out.append(
            Change(float(pa), float(pb), float(pb - pa), d_low, d_high, rel, r_low, r_high, p, test)
        )
    return out


def _bootstrap(measure: Measure, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    per_chunk = max(1, CHUNK // max(1, measure.size))
    parts = []
    for start in range(0, n_boot, per_chunk):
        rows = rng.integers(0, measure.size, (min(per_chunk, n_boot - start), measure.size))
        parts.append(measure.statistics(rows))
    return np.concatenate(parts)


def _interval(values: np.ndarray, tails: Sequence[float]) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return (float("nan"), float("nan"))
    low, high = np.percentile(finite, tails)
    return float(low), float(high)


def _p_values(
    a: Measure, b: Measure, diffs: np.ndarray, signs: np.ndarray
) -> list[tuple[float | None, str]]:
    """Per statistic: the one-sided p-value of a change in its observed direction."""
    ranks_a, ranks_b = a.ranks(), b.ranks()
    rankable = ranks_a is not None and ranks_b is not None and len(ranks_a) and len(ranks_b)
    if not rankable and (a.size < 2 or b.size < 2):
        return [(None, "none")] * len(signs)
    out: list[tuple[float | None, str]] = []
    for j, sign in enumerate(signs):
        if sign == 0:
            out.append((1.0, "mann-whitney" if rankable else "bootstrap"))
        elif rankable:
            assert ranks_a is not None and ranks_b is not None
            column_a = ranks_a[:, min(j, ranks_a.shape[1] - 1)]
            column_b = ranks_b[:, min(j, ranks_b.shape[1] - 1)]
            out.append((mann_whitney(column_a, column_b, int(sign)), "mann-whitney"))
        else:
            out.append((bootstrap_p(diffs[:, j], int(sign)), "bootstrap"))
    return out


def mann_whitney(a: np.ndarray, b: np.ndarray, sign: int) -> float:
    """One-sided Mann–Whitney U p-value that B lies above A (sign 1) or below it (sign -1);
    1 when both sides hold one and the same value."""
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    alternative = "less" if sign > 0 else "greater"  # scipy's alternative is about a vs b
    return float(mannwhitneyu(a, b, alternative=alternative).pvalue)


def bootstrap_p(diffs: np.ndarray, sign: int) -> float:
    """One-sided p-value of 'no change' read off the bootstrap distribution of the change:
    the share of resamples on the other side of zero (consistent with the interval)."""
    finite = diffs[np.isfinite(diffs)]
    if not finite.size:
        return 1.0
    against = np.sum(finite <= 0) if sign > 0 else np.sum(finite >= 0)
    return float((against + 1) / (finite.size + 1))


def detectable(a: np.ndarray, b: np.ndarray, alpha: float, power: float = 0.95) -> float | None:
    """Approximate smallest relative shift of a latency (all values times 1 + x) that a
    one-sided rank test at alpha would find with this power, at these sample sizes and this
    spread: the log-normal model, sd of the logs pooled over both sides, Mann–Whitney's
    efficiency of 3/π against the t-test on normal data. None without positive values."""
    logs_a, logs_b = np.log(a[a > 0]), np.log(b[b > 0])
    if len(logs_a) < 2 or len(logs_b) < 2:
        return None
    spread = np.sqrt(
        ((len(logs_a) - 1) * logs_a.var(ddof=1) + (len(logs_b) - 1) * logs_b.var(ddof=1))
        / (len(logs_a) + len(logs_b) - 2)
    )
    z = norm.ppf(1 - alpha) + norm.ppf(power)
    shift = z * spread * np.sqrt(1 / len(logs_a) + 1 / len(logs_b)) * np.sqrt(np.pi / 3)
    return float(np.expm1(shift))
