"""The gate's metrics and Holm's correction, on answers known in advance."""

from __future__ import annotations

import numpy as np
import pytest

from lab.compare import gate
from lab.compare import metrics as compare_metrics
from lab.config import validation
from lab.errors import ConfigError

ALL = compare_metrics.METRICS


def test_holm_on_a_worked_example() -> None:
    """Four p-values, alpha 0.05: 0.01 < 0.05/4 is rejected, then 0.015 < 0.05/3 too, then
    0.03 > 0.05/2 stops; the adjusted values are monotone in the p-values' order."""
    adjusted = gate.holm([0.03, 0.01, 0.2, 0.015])
    assert adjusted == pytest.approx([0.06, 0.04, 0.2, 0.045])
    assert [p < 0.05 for p in adjusted] == [False, True, False, True]
    assert gate.holm([]) == [] and gate.holm([0.5, 0.9]) == [1.0, 1.0]


def test_holm_controls_the_family_wise_rate_under_strong_dependence() -> None:
    """20 one-sided tests of null effects, pairwise correlated 0.8 (like percentiles of one
    latency): the chance that any is rejected stays below alpha; uncorrected, it is far above."""
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    shared = rng.normal(size=(20_000, 1))
    z = np.sqrt(0.8) * shared + np.sqrt(0.2) * rng.normal(size=(20_000, 20))
    p = norm.sf(z)
    corrected = np.array([min(gate.holm(row)) < 0.05 for row in p[:4000]])
    assert corrected.mean() <= 0.05
    assert (p.min(axis=1) < 0.05).mean() > 0.15


def test_holm_finds_a_real_effect_among_nulls() -> None:
    p = [1e-4] + [0.5] * 21  # one metric clearly worse, 21 unchanged
    assert gate.holm(p)[0] == pytest.approx(22e-4) and gate.holm(p)[0] < 0.05


def test_the_default_gate() -> None:
    chosen = gate.select([], ALL)
    assert list(chosen.kinds) == [
        "ttft_p50", "ttft_p90", "tpot_p50", "e2e_p90", "output_tokens_per_s", "error_rate",
        "prefix_cache_hit_rate", "session_stickiness", "capacity_rps",
    ]  # fmt: skip
    assert chosen.covers("ttft_p50", "throughput") and chosen.covers("error_rate", "routing")
    assert chosen.covers("prefix_cache_hit_rate", "routing")
    assert not chosen.covers("prefix_cache_hit_rate", "throughput")
    assert not chosen.covers("ttft_p99", "routing")
    assert chosen.covers("capacity_rps", "capacity")  # a search's own unit (<scenario>/search)
    # A search's steps are shown, not gated: each run's search tries rates of its own.
    assert not chosen.covers("ttft_p50", "capacity") and not chosen.covers("error_rate", "capacity")
    assert (
        "fixed levels" in chosen.describe()
        and "capacity_rps (capacity searches)" in chosen.describe()
    )
    assert set(gate.DEFAULT) <= set(compare_metrics.BY_NAME)  # every gated metric exists


def test_every_scenario_kind_is_either_a_fixed_level_or_a_search() -> None:
    kinds = validation.schema("lab-profile")["$defs"]["scenario"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(gate.FIXED + gate.SEARCH)


def test_the_default_gate_keeps_to_the_metrics_shown() -> None:
    chosen = gate.select([], compare_metrics.select(["ttft"]))
    assert list(chosen.kinds) == ["ttft_p50", "ttft_p90"] and not chosen.named


def test_gate_names_metrics_or_families_on_every_level() -> None:
    chosen = gate.select(["ttft_p99,hit_rate"], ALL)
    assert chosen.named and list(chosen.kinds) == ["ttft_p99", "prefix_cache_hit_rate"]
    assert chosen.covers("prefix_cache_hit_rate", "throughput")


def test_an_unknown_gate_metric_is_refused_with_the_valid_names() -> None:
    with pytest.raises(
        ConfigError, match="--gate: unknown metric latency; valid metrics: ttft_p50"
    ):
        gate.select(["ttft_p50,latency"], ALL)
