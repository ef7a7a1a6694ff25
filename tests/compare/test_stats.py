"""The statistics of a comparison, on synthetic data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from lab.compare import stats


def lognormal(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).lognormal(3.0, 0.3, n)


def test_the_point_of_quantiles_is_numpys_percentile() -> None:
    values = lognormal(101, 1)
    found = stats.point(stats.Quantiles(values, (50, 90, 99)))
    assert found == pytest.approx(np.percentile(values, [50, 90, 99]))


def test_clustered_quantiles_pool_every_value_and_resample_whole_groups() -> None:
    groups = (np.array([1.0, 2.0]), np.array([3.0]), np.array([4.0, 5.0, 6.0]))
    measure = stats.ClusteredQuantiles(groups, (50,))
    assert stats.point(measure) == pytest.approx([3.5])
    # group 2 twice, group 0 once: values 4 5 6 4 5 6 1 2
    assert measure.statistics(np.array([[2, 2, 0]]))[0] == pytest.approx([4.5])
    assert measure.ranks()[:, 0] == pytest.approx([1.5, 3.0, 5.0])


def test_pooled_ratio_weights_units_by_their_denominator() -> None:
    measure = stats.PooledRatio(np.array([0.0, 90.0]), np.array([10.0, 100.0]))
    assert stats.point(measure) == pytest.approx([90 / 110])
    assert measure.ranks()[:, 0] == pytest.approx([0.0, 0.9])


def test_balance_is_min_over_max_of_counts_per_category() -> None:
    measure = stats.Balance(np.array([0, 0, 0, 1]), 3)  # the third engine served nothing
    assert stats.point(measure) == pytest.approx([0.0])
    assert stats.point(stats.Balance(np.array([0, 0, 1, 1, 1]), 2)) == pytest.approx([2 / 3])


def test_a_sample_against_itself_changes_nothing() -> None:
    values = lognormal(60, 2)
    measure = stats.Quantiles(values, (50, 99))
    for change in stats.change(measure, measure):
        assert change.diff == 0 and change.rel == 0
        assert change.p == 1.0 and change.test == "mann-whitney"  # no direction, no test
        assert change.diff_low < 0 < change.diff_high
        assert not change.significant(0.05)


def test_a_clear_shift_is_significant_with_an_interval_around_it() -> None:
    a = stats.Quantiles(lognormal(300, 3), (50,))
    b = stats.Quantiles(lognormal(300, 4, scale=1.3), (50,))
    (change,) = stats.change(a, b)
    assert change.p < 0.001 and change.significant(0.05)
    assert change.rel_low < change.rel < change.rel_high
    assert 0.15 < change.rel < 0.45


def test_the_seed_makes_intervals_reproducible() -> None:
    a, b = stats.Quantiles(lognormal(50, 5), (90,)), stats.Quantiles(lognormal(50, 6), (90,))
    assert stats.change(a, b, seed=7) == stats.change(a, b, seed=7)


def test_without_ranks_the_bootstrap_tests_and_one_value_cannot_be_tested() -> None:
    a = stats.Balance(np.array([0, 1] * 50), 2)
    b = stats.Balance(np.array([0] * 90 + [1] * 10), 2)
    (change,) = stats.change(a, b)
    assert change.test == "bootstrap" and change.p < 0.01 and change.significant(0.05)
    (fixed,) = stats.change(stats.Fixed((0.5,)), stats.Fixed((0.7,)))
    assert fixed.test == "none" and fixed.p is None and not fixed.significant(0.05)
    assert fixed.diff == pytest.approx(0.2)


def test_a_relative_change_from_zero_is_undefined() -> None:
    (change,) = stats.change(stats.Means(np.zeros((20, 1))), stats.Means(np.ones((20, 1))))
    assert change.rel is None and change.rel_low is None and change.diff == 1


@pytest.mark.parametrize(
    ("diffs", "sign", "low", "high"),
    [
        (np.full(999, 1.0), 1, 0.0, 0.002),  # every resample says up
        (np.full(999, 1.0), -1, 0.99, 1.0),  # ... so "down" has no support
        (np.linspace(-1, 1, 1001), 1, 0.45, 0.55),
    ],
)
def test_bootstrap_p_is_the_share_of_resamples_against_the_direction(
    diffs, sign, low, high
) -> None:
    assert low <= stats.bootstrap_p(diffs, sign) <= high


def test_mann_whitney_is_one_sided() -> None:
    a, b = np.arange(10.0), np.arange(10.0) + 100
    assert stats.mann_whitney(a, b, 1) < 0.001 and stats.mann_whitney(a, b, -1) > 0.999
    assert stats.mann_whitney(np.zeros(5), np.zeros(7), 1) == 1.0


def test_detectable_shift_shrinks_with_sample_size_and_grows_with_spread() -> None:
    small = stats.detectable(lognormal(40, 8), lognormal(40, 9), 0.05)
    large = stats.detectable(lognormal(400, 8), lognormal(400, 9), 0.05)
    wide = stats.detectable(lognormal(40, 8) ** 2, lognormal(40, 9) ** 2, 0.05)
    assert small is not None and large is not None and wide is not None
    assert large < small < wide
    assert 0.1 < small < 0.4  # sd(log) 0.3, 40 a side
    assert stats.detectable(np.array([1.0]), np.array([2.0, 3.0]), 0.05) is None


def test_run_medians_rank_each_statistic_on_its_own() -> None:
    a = stats.Medians(np.array([[1.0, 10.0], [2.0, 11.0], [3.0, 12.0], [4.0, 13.0]]))
    b = stats.Medians(np.array([[1.5, 20.0], [2.5, 21.0], [3.5, 22.0], [4.5, 23.0]]))
    first, second = stats.change(a, b)
    assert first.p > 0.1 and second.p == pytest.approx(1 / 70)  # exact 4 vs 4, all apart


def test_clustered_quantiles_of_any_resample_match_pooling_it_by_hand() -> None:
    rng = np.random.default_rng(11)
    groups = tuple(rng.lognormal(0, 1, rng.integers(1, 30)) for _ in range(60))
    measure = stats.ClusteredQuantiles(groups, (50, 90, 99))
    rows = rng.integers(0, 60, (50, 60))
    by_hand = [np.percentile(np.concatenate([groups[i] for i in r]), (50, 90, 99)) for r in rows]
    assert measure.statistics(rows) == pytest.approx(np.array(by_hand))
