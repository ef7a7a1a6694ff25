"""A soak's verdicts, from its saved files alone: each process's memory slope after the
warm-up, the latency drift from the first window of the load to the last, and whether any
request was lost.

The slope is Theil–Sen's (the median of the slopes between every two samples: a few spikes,
a garbage collection, do not move it), in MB per hour. Samples 10 s apart are not independent
(memory wanders, then stays), so its 90% interval comes from a moving-block bootstrap: blocks
of BLOCK_SECONDS of consecutive samples (at least 3 samples, and at most a fifth of the
series, so that a short soak has five blocks or more), drawn with replacement until the
series is as long as before, each resample's slope computed again; the interval is the
resamples' 5th to 95th percentile. A slope gated by `max_growth_mb_per_h` fails when the
interval's lower end lies above the limit: growth is then shown beyond its noise, not merely
suspected.

The drift compares the requests that began in the first window of the load with those of the
last, each window min(15 min, a quarter of the load) long, with compare's statistics
(lab.compare.stats: percentiles of each window's requests, their within-run bootstrap
variance, the log-scale difference with its interval and one-sided p-value).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import theilslopes

from lab import files
from lab.compare import stats
from lab.compare.comparison import ALPHA
from lab.config.kinds.soak import SoakScenario
from lab.results import soak, summary

N_BOOT = 500  # resampled slopes behind an interval
BLOCK_SECONDS = 300.0  # a block of the moving-block bootstrap: memory wanders over minutes
MIN_BLOCK = 3  # samples in a block, at the least
MIN_BLOCKS = 5  # blocks in a series, at the least: a short soak's blocks are shorter
DRIFT_WINDOW = 900.0  # seconds: the first and the last 15 minutes of the load
DRIFT_QS = (50.0, 99.0)
LEVEL_FRACTION = 4  # a short soak's windows are a quarter of its load each


@dataclass(frozen=True)
class Slope:
    """A series' Theil–Sen slope in MB/h with its 90% moving-block bootstrap interval."""

    mb_per_h: float
    low: float
    high: float
    samples: int
    block: int  # samples per block


def slope(times: np.ndarray, mb: np.ndarray, interval: float, seed: int = 0) -> Slope | None:
    """The slope of memory (MB) over time (s) in MB/h; None below MIN_BLOCKS * MIN_BLOCK
    samples."""
    n = len(times)
    if n < MIN_BLOCKS * MIN_BLOCK:
        return None
    hours = (times - times[0]) / 3600
    point = float(theilslopes(mb, hours)[0])
    block = max(MIN_BLOCK, min(round(BLOCK_SECONDS / interval), n // MIN_BLOCKS))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(N_BOOT, math.ceil(n / block)))
    offsets = np.arange(block)
    pairs = np.triu_indices(n, 1)
    resampled = []
    for row in starts:
        picked = (row[:, None] + offsets).ravel()[:n]
        resampled.append(theil_sen(hours[picked], mb[picked], pairs))
    low, high = np.nanpercentile(resampled, [5, 95])
    return Slope(point, float(low), float(high), n, block)


def theil_sen(
    x: np.ndarray, y: np.ndarray, pairs: tuple[np.ndarray, np.ndarray] | None = None
) -> float:
    """Theil–Sen's slope as scipy.stats.theilslopes computes it (the median over every two
    points whose x differ), without its confidence interval: a resample's slope, hundreds of
    times over; NaN when no two x differ."""
    i, j = pairs if pairs is not None else np.triu_indices(len(x), 1)
    dx, dy = x[j] - x[i], y[j] - y[i]
    apart = dx != 0
    if not apart.any():
        return float("nan")
    return float(np.median(dy[apart] / dx[apart]))


def slopes(rows: list[dict[str, Any]], s: SoakScenario) -> dict[str, Slope | None]:
    """Each process's memory slope over the samples after the warm-up (from the first)."""
    found = soak.per_source(rows, soak.MEMORY)
    if not found:
        return {}
    began = min(float(times[0]) for times, _ in found.values())
    out = {}
    for source, (times, values) in sorted(found.items()):
        kept = times >= began + s.warmup
        out[source] = slope(times[kept], values[kept], s.interval)
    return out


def gate(found: dict[str, Slope | None], limit: float | None) -> list[str]:
    """The processes whose growth lies above `limit` MB/h beyond their interval, said."""
    if limit is None:
        return []
    return [
        f"{source} grows {s.mb_per_h:.1f} MB/h (90% interval {s.low:.1f} to {s.high:.1f}), "
        f"above the limit of {limit:g} MB/h"
        for source, s in found.items()
        if s is not None and s.low > limit
    ]


def drift(samples: list[summary.Sample]) -> dict[str, Any]:
    """TTFT and E2E percentiles of the first window's successful requests against the
    last's; the windows are DRIFT_WINDOW long, or a quarter of a shorter load."""
    ok = [x for x in samples if x.ok and x.measured]
    if not ok:
        return {"window_s": None, "note": "no successful request"}
    began, ended = min(x.start for x in ok), max(x.start for x in ok)
    window = min(DRIFT_WINDOW, (ended - began) / LEVEL_FRACTION)
    first = [x for x in ok if x.start < began + window]
    last = [x for x in ok if x.start >= ended - window]
    out: dict[str, Any] = {"window_s": round(window, 1), "first": len(first), "last": len(last)}
    for metric in ("ttft_ms", "e2e_ms"):
        a, b = (_values(side, metric) for side in (first, last))
        out[metric] = _changes(a, b, metric)
    return out


def _values(side: list[summary.Sample], metric: str) -> np.ndarray:
    return np.array([v for x in side if (v := getattr(x, metric)) is not None], dtype=float)


def _changes(a: np.ndarray, b: np.ndarray, metric: str) -> dict[str, Any]:
    if a.size < 2 or b.size < 2:
        return {"note": "fewer than 2 requests in a window"}
    rng = np.random.default_rng(1)
    left = stats.estimates(stats.Quantiles(a, DRIFT_QS), True, stats.N_BOOT, rng)
    right = stats.estimates(stats.Quantiles(b, DRIFT_QS), True, stats.N_BOOT, rng)
    out: dict[str, Any] = {}
    for q, ea, eb in zip(DRIFT_QS, left, right, strict=True):
        name = f"p{q:g}"
        if isinstance(ea, str) or isinstance(eb, str):
            out[name] = {"note": ea if isinstance(ea, str) else eb}
            continue
        change = stats.difference([ea], [eb], [], log=True)
        low, high = change.interval(ALPHA)
        up = change.p(True)
        out[name] = {
            "first": change.a,
            "last": change.b,
            "ratio": math.exp(change.d),
            "ratio_interval": [math.exp(low), math.exp(high)],
            "p_up": up,
            "drifted_up": up is not None and up < ALPHA,
        }
    return out


def lost(place: Path, level: str, samples: list[summary.Sample], served: float) -> dict[str, Any]:
    """Locust's own count against the rows of requests.csv, and the engines' successes plus
    the failed rows against those rows."""
    counted = _locust_count(place / level / "locust_stats.json")
    failed = sum(not x.ok for x in samples)
    return {
        "locust_count": counted,
        "rows": len(samples),
        "failed_rows": failed,
        "engines_served": served,
        "lost": None if counted is None else counted - len(samples),
        "unaccounted": len(samples) - (served + failed),
    }


def _locust_count(path: Path) -> int | None:
    if not path.exists():
        return None
    entries = files.read_json(path, path.name)
    return sum(int(e["num_requests"]) for e in entries if e.get("method") == "POST")


def verdicts(
    place: Path, level: str, s: SoakScenario, served: float
) -> tuple[dict[str, Any], list[str]]:
    """The soak's verdicts (soak.json) and the gate's failures, said (none: it passed)."""
    rows = soak.read(place / soak.FILE)
    samples = [x for x in summary.read_samples(place / "requests.csv") if x.level == level]
    found = slopes(rows, s)
    failures = gate(found, s.max_growth_mb_per_h)
    written = {
        "warmup_s": s.warmup,
        "interval_s": s.interval,
        "block_s": BLOCK_SECONDS,
        "bootstrap": N_BOOT,
        "max_growth_mb_per_h": s.max_growth_mb_per_h,
        "slopes": {k: None if v is None else asdict(v) for k, v in found.items()},
        "gate_failures": failures,
        "drift": drift(samples),
        "requests": lost(place, level, samples, served),
    }
    return written, failures
