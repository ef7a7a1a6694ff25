"""The time-stratified view of a side-by-side A/B on synthetic samples with known answers."""

from __future__ import annotations

import random

import pytest

from lab.results import paired
from lab.results.summary import Sample


def sample(start: float, ttft: float, ok: bool = True) -> Sample:
    return Sample(
        start=start, level="c4", session="", round="", engine="engine-0", prompt_tokens=8,
        output_tokens=8, cached_tokens=None, ttft_ms=ttft, tpot_ms=5.0, e2e_ms=ttft + 40,
        itl_ms=(), ok=ok, error="", phase="run",
    )  # fmt: skip


def drifting(share: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Both arms under one drift (the machine slows down then recovers); B `share` slower."""
    rng = random.Random(seed)
    a, b = [], []
    for i in range(600):
        t = i * 0.1
        drift = 100 * (1 + 0.8 * (20 < t < 40))
        (a if i % 2 else b).append(sample(t, drift * rng.uniform(0.9, 1.1)))
    return a, [sample(s.start, s.ttft_ms * (1 + share)) for s in b]


def test_a_known_shift_under_common_drift_is_found_per_window() -> None:
    a, b = drifting(0.2, seed=1)
    pairs = paired.windows(a, b, "ttft_ms", width=5)
    result = paired.signed_rank(pairs)
    assert result["windows"] == 12 and result["b_slower_in"] == 12
    assert result["median_change"] == pytest.approx(0.2, abs=0.05)
    assert result["p_value"] < 0.01


def test_no_shift_is_no_signal_and_thin_windows_are_left_out() -> None:
    a, b = drifting(0.0, seed=2)
    assert paired.signed_rank(paired.windows(a, b, "ttft_ms", width=5))["p_value"] > 0.01
    # A window with fewer than MIN_PER_ARM requests of an arm pairs nothing.
    assert paired.windows(a[:2], b[:2], "ttft_ms", width=100) == []
    assert paired.signed_rank([])["windows"] == 0
