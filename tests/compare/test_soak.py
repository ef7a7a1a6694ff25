"""A soak's statistics on series made with a known leak (lab.compare.soak): pure functions, so
they run in the fast tier."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import theilslopes

from lab.compare import soak
from lab.results.summary import Sample

INTERVAL = 10.0  # seconds between samples, as a soak takes them


def series(leak_mb_per_h: float, minutes: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Memory sampled every 10 s: a base, a leak, and noise that wanders (AR(1), as an
    allocator's does) with a garbage-collection sawtooth on top."""
    rng = np.random.default_rng(seed)
    times = np.arange(0, minutes * 60, INTERVAL)
    wander = np.zeros(times.size)
    for i in range(1, times.size):
        wander[i] = 0.8 * wander[i - 1] + rng.normal(0, 0.5)
    sawtooth = (times % 120) / 120 * 2.0
    return times, 90 + leak_mb_per_h * times / 3600 + wander + sawtooth


@pytest.mark.parametrize("seed", [1, 2])
def test_a_known_leak_lies_within_its_interval_and_fails_a_lower_limit(seed: int) -> None:
    times, mb = series(40.0, 40, seed)
    found = soak.slope(times, mb, INTERVAL, seed=seed)
    assert found is not None
    assert found.low <= 40.0 <= found.high, found
    assert found.low > 10.0, found  # far enough from flat to be gated
    assert soak.gate({"router": found}, 10.0) == [
        f"router grows {found.mb_per_h:.1f} MB/h (90% interval {found.low:.1f} to "
        f"{found.high:.1f}), above the limit of 10 MB/h"
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_a_flat_series_passes_the_gate(seed: int) -> None:
    times, mb = series(0.0, 40, seed)
    found = soak.slope(times, mb, INTERVAL, seed=seed)
    assert found is not None
    assert found.low <= 0.0 <= found.high, found
    assert soak.gate({"engine-0": found}, 10.0) == []


def test_the_resampled_slope_is_scipys_theil_sen() -> None:
    rng = np.random.default_rng(9)
    x, y = rng.choice(50, 40).astype(float), rng.normal(0, 1, 40)  # ties in x, as resamples hold
    assert soak.theil_sen(x, y) == pytest.approx(theilslopes(y, x)[0])


def test_blocks_are_five_minutes_and_a_short_series_keeps_five_of_them() -> None:
    times, mb = series(0.0, 40, 1)
    assert soak.slope(times, mb, INTERVAL).block == 30  # type: ignore[union-attr]
    short = soak.slope(times[:40], mb[:40], INTERVAL)
    assert short is not None and short.block == 8
    assert soak.slope(times[:14], mb[:14], INTERVAL) is None  # fewer than 5 blocks of 3


def sample(start: float, ttft: float, e2e: float) -> Sample:
    return Sample(start, "soak", "s", "0", "engine-0", 8, 8, None, ttft, 1.0, e2e, (), True, "",
                  "run")  # fmt: skip


def test_latency_that_doubles_is_a_drift_up_and_steady_latency_is_not() -> None:
    rng = np.random.default_rng(5)
    doubling = [sample(t, 20 * (1 + t / 400) * rng.uniform(0.9, 1.1), 100) for t in range(400)]
    drift = soak.drift(doubling)
    assert drift["window_s"] == 99.8  # a quarter of a 400 s load
    assert drift["ttft_ms"]["p50"]["drifted_up"]
    assert 1.5 < drift["ttft_ms"]["p50"]["ratio"] < 2.0
    assert not drift["e2e_ms"]["p50"]["drifted_up"]
