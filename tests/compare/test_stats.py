"""The statistics of a comparison, on synthetic data whose answer is known: the measures, each
run's figure with its within-run noise, and the random-effects difference of two sides."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lab.compare import metrics, stats
from lab.compare.metrics import LevelData
from lab.compare.stats import Estimate, Source
from lab.results.summary import Sample


def lognormal(n: int, seed: int, scale: float = 1.0, sd: float = 0.3) -> np.ndarray:
    return scale * np.random.default_rng(seed).lognormal(3.0, sd, n)


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


def test_clustered_quantiles_of_any_resample_match_pooling_it_by_hand() -> None:
    rng = np.random.default_rng(11)
    groups = tuple(rng.lognormal(0, 1, rng.integers(1, 30)) for _ in range(60))
    measure = stats.ClusteredQuantiles(groups, (50, 90, 99))
    rows = rng.integers(0, 60, (50, 60))
    by_hand = [np.percentile(np.concatenate([groups[i] for i in r]), (50, 90, 99)) for r in rows]
    assert measure.statistics(rows) == pytest.approx(np.array(by_hand))


def test_pooled_ratio_weights_units_by_their_denominator() -> None:
    measure = stats.PooledRatio(np.array([0.0, 90.0]), np.array([10.0, 100.0]))
    assert stats.point(measure) == pytest.approx([90 / 110])


def test_balance_is_min_over_max_of_counts_per_category() -> None:
    measure = stats.Balance(np.array([0, 0, 0, 1]), 3)  # the third engine served nothing
    assert stats.point(measure) == pytest.approx([0.0])
    assert stats.point(stats.Balance(np.array([0, 0, 1, 1, 1]), 2)) == pytest.approx([2 / 3])


# --- one run's figures ------------------------------------------------------------------------


def test_a_runs_within_noise_is_the_sampling_variance_of_its_statistic() -> None:
    """Known answers: the variance of a mean of n values is sd²/n; of the log of the median
    of log-normal values, (π/2)·sd_log²/n."""
    rng = np.random.default_rng(3)
    values = np.random.default_rng(4).normal(10, 2, 400)
    (mean,) = stats.estimates(stats.Means(values[:, None]), False, 2000, rng)
    assert isinstance(mean, Estimate) and mean.y == mean.value == pytest.approx(values.mean())
    assert mean.within == pytest.approx(4 / 400, rel=0.15) and mean.units == 400
    (median,) = stats.estimates(stats.Quantiles(lognormal(400, 5, sd=0.5), (50,)), True, 2000, rng)
    assert isinstance(median, Estimate) and median.y == pytest.approx(np.log(median.value))
    assert median.within == pytest.approx(np.pi / 2 * 0.25 / 400, rel=0.3)


def test_engine_counters_have_no_within_run_noise_and_zero_has_no_log() -> None:
    rng = np.random.default_rng(0)
    (fixed,) = stats.estimates(stats.Fixed((0.6,)), False, 100, rng)
    assert isinstance(fixed, Estimate) and fixed.within is None
    (zero,) = stats.estimates(stats.Fixed((0.0,)), True, 100, rng)
    assert zero == "a value of 0: no relative change"


# --- the difference of two sides --------------------------------------------------------------


def p_up(change: stats.Change) -> float:
    assert change.p_up is not None
    return change.p_up


def figures(ys: list[float], within: float = 0.0, units: int = 100) -> list[Estimate]:
    return [Estimate(float(np.exp(y)), y, within, units) for y in ys]


def test_folders_of_runs_are_students_pooled_t_test_on_the_runs_log_figures() -> None:
    a, b = [0.0, 0.1, -0.05], [0.3, 0.35, 0.2]
    runs_a, runs_b = figures(a, 0.002), figures(b, 0.002)
    sources = [Source("A", *_spread(runs_a)), Source("B", *_spread(runs_b))]
    change = stats.difference(runs_a, runs_b, sources, log=True)
    expected = scipy_stats.ttest_ind(b, a, alternative="greater")
    assert change.p_up == pytest.approx(expected.pvalue) and change.df == 4
    assert change.b / change.a == pytest.approx(np.exp(change.d))  # geometric means
    assert change.noise == "A + B (df 4)"


def test_runs_agreeing_closer_than_their_sampling_noise_are_judged_by_that_noise() -> None:
    """Three runs a side within 1% of one another, each with a bootstrap sd of 17% (a p90 whose
    resamples jump between two modes): the run-to-run variance is floored at the runs' own,
    with the degrees of freedom of their units (Welch: 6 runs × 299), unpaired and paired."""
    a, b = figures([0.0, 0.01, -0.01], 0.03, 300), figures([0.2, 0.21, 0.19], 0.03, 300)
    sources = [s for s in (stats.source("A", a), stats.source("B", b)) if s]
    for change in (stats.difference(a, b, sources, True), stats.paired(a, b, True)):
        assert change.se == pytest.approx(np.sqrt(0.03 * 2 / 3))
        assert change.df == pytest.approx(6 * 299)
        assert change.p_up == pytest.approx(scipy_stats.t.sf(0.2 / change.se, 6 * 299))
        assert change.noise.endswith(stats.FLOORED)
    # runs spread more widely than their own noise keep their spread and df
    wide = figures([0.0, 0.4, -0.4], 0.03, 300)
    kept = stats.difference(wide, b, [s for s in (stats.source("A", wide),) if s], True)
    assert kept.df == 2 and not kept.noise.endswith(stats.FLOORED)


def _spread(runs: list[Estimate]) -> tuple[float, float, int]:
    found = stats.source("", runs)
    assert found is not None
    return found.var, found.within, found.df


def test_single_runs_with_a_noise_profile_take_its_run_to_run_variance() -> None:
    profile = Source("noise profile", var=0.01, within=0.004, df=9)
    change = stats.difference(figures([0.0], 0.004), figures([0.2], 0.004), [profile], True)
    assert change.se == pytest.approx(np.sqrt(2 * 0.01)) and change.df == 9
    assert change.p_up == pytest.approx(scipy_stats.t.sf(0.2 / np.sqrt(0.02), 9))
    # runs noisier than the profile's (fewer requests): the excess within-run noise is added
    noisy = stats.difference(figures([0.0], 0.009), figures([0.2], 0.009), [profile], True)
    assert noisy.se == pytest.approx(np.sqrt(2 * 0.01 + 2 * 0.005))
    # quieter runs keep the profile's variance (never claim more than it saw)
    quiet = stats.difference(figures([0.0], 0.001), figures([0.2], 0.001), [profile], True)
    assert quiet.se == pytest.approx(change.se)


def test_without_run_to_run_noise_only_the_runs_own_sampling_noise_is_known() -> None:
    change = stats.difference(figures([0.0], 0.004, 50), figures([0.2], 0.004, 50), [], True)
    assert change.noise == "within-run only" and change.se == pytest.approx(np.sqrt(0.008))
    assert change.df == pytest.approx(98)  # Welch–Satterthwaite, equal parts: 49 + 49


def test_what_cannot_be_tested_says_why() -> None:
    zeros = stats.difference(figures([0.0, 0.0]), figures([0.0, 0.0]), [], log=False)
    assert zeros.p_up is None and zeros.untestable == ""  # 0 errors both sides: no change
    counters = [Estimate(0.6, 0.6, None, 1)]
    fixed = stats.difference(counters, [Estimate(0.7, 0.7, None, 1)], [], log=False)
    assert fixed.p_up is None and fixed.untestable == "one value per run (engine counters)"


def test_the_interval_and_reach_agree_with_the_test() -> None:
    change = stats.difference(figures([0.0], 0.01), figures([0.5], 0.01), [], True)
    low, high = change.interval(0.05)
    assert low > 0 and p_up(change) < 0.05  # one-sided 95% bound excludes 0 ⇔ p < 0.05
    assert low < change.d < high
    assert change.reach(0.05) == pytest.approx((1.645 + 1.645) * np.sqrt(0.02), rel=0.02)


@pytest.mark.parametrize(
    ("runs", "profile_runs", "between"),
    [(1, 10, 0.05), (1, 10, 0.0), (3, 0, 0.05), (3, 10, 0.1), (1, 4, 0.05)],
)
def test_false_alarms_stay_at_alpha_whatever_the_drift(runs, profile_runs, between) -> None:
    """Unchanged configurations: runs drift by `between` (log sd) and sample with within-run
    sd 0.05. A one-sided test at 5% fires about 5% of the time, with single runs and a noise
    profile, with folders of runs, and with both."""
    rng = np.random.default_rng(runs * 100 + profile_runs)
    within, fired = 0.05**2, []
    for _ in range(1500):

        def side(n: int) -> list[Estimate]:
            noise = rng.normal(0, between, n) + rng.normal(0, np.sqrt(within), n)
            return figures(list(noise), within)

        a, b, recorded = side(runs), side(runs), side(profile_runs)
        found = (stats.source("A", a), stats.source("B", b), stats.source("profile", recorded))
        sources = [s for s in found if s is not None]
        fired.append(p_up(stats.difference(a, b, sources, True)) < 0.05)
    assert np.mean(fired) == pytest.approx(0.05, abs=0.02)


def test_three_runs_a_side_find_a_30_percent_shift_where_no_rank_test_can() -> None:
    """With 3 runs a side the smallest one-sided rank-test p-value is 1/20; a t-test on the
    runs' log figures, with 5% drift and sampling, finds +30% far below that."""
    rng = np.random.default_rng(7)
    ps = []
    for _ in range(500):
        a = figures(list(rng.normal(0, 0.05, 3)))
        b = figures(list(np.log(1.3) + rng.normal(0, 0.05, 3)))
        sources = [s for s in (stats.source("A", a), stats.source("B", b)) if s is not None]
        ps.append(p_up(stats.difference(a, b, sources, True)))
    assert np.median(ps) < 0.005
    assert scipy_stats.mannwhitneyu([1, 2, 3], [4, 5, 6], alternative="less").pvalue == 0.05


def test_a_routing_levels_requests_are_resampled_by_conversation() -> None:
    """Known answer: when every request of a conversation has its conversation's TTFT, the
    level holds 60 independent values, not 300: its within-run noise is that of the 60
    conversations' values bootstrapped on their own. Resampled one by one, the requests would
    claim about five times less. A throughput level's requests (no conversation) stay units."""
    ttft = np.random.default_rng(8).lognormal(4.0, 0.5, 60)

    def request(session: str, value: float) -> Sample:
        return Sample(0, "l", session, "0", "e", 10, 4, 0, value, 1, value, (), True, "", "run")

    def within(measure: stats.Measure) -> float:
        found = stats.estimates(measure, True, 4000, np.random.default_rng(9))[0]
        assert isinstance(found, Estimate) and found.within is not None
        return found.within

    routing = [request(f"s{i}", v) for i, v in enumerate(ttft) for _ in range(5)]
    measure, word = metrics.measure("ttft", LevelData(routing), True)
    assert word == "conversations"
    by_conversation = within(measure)
    assert by_conversation == pytest.approx(within(stats.Quantiles(ttft, (50,))), rel=0.15)
    measure, word = metrics.measure(
        "ttft", LevelData([replace(r, session="") for r in routing]), True
    )
    assert word == "requests"
    assert within(measure) < 0.4 * by_conversation


def test_pairs_whose_first_arm_alternates_are_judged_as_a_crossover() -> None:
    """Known answer: an AB/BA crossover's test of the arms is the pooled two-sample t-test of
    one order's differences against the other's negated. Coming up first makes an arm 30%
    slower; alternated, that cancels in the change and stays out of its spread, while the plain
    paired test carries it as noise. Fewer than two pairs in an order: the plain paired test."""
    rng = np.random.default_rng(8)
    first = np.array(["A", "B"] * 5)
    order = np.where(first == "A", -1, 1) * np.log(1.3)  # B's log change from going second/first
    drift = rng.normal(0, 0.5, 10)
    ys_a = drift + rng.normal(0, 0.02, 10)
    ys_b = drift + np.log(1.1) + order + rng.normal(0, 0.02, 10)
    diffs = ys_b - ys_a

    def runs(ys: np.ndarray) -> list[Estimate]:
        return [Estimate(float(np.exp(y)), float(y), 1e-6, 200) for y in ys]

    change = stats.paired(runs(ys_a), runs(ys_b), log=True, orders=list(first))
    expected = scipy_stats.ttest_ind(
        diffs[first == "A"], -diffs[first == "B"], alternative="greater"
    )
    assert change.p_up == pytest.approx(expected.pvalue)
    assert change.df == 8 and "AB/BA crossover (df 8)" in change.noise
    assert change.d == pytest.approx((diffs[first == "A"].mean() + diffs[first == "B"].mean()) / 2)
    assert change.p_up < 0.001
    plain = stats.paired(runs(ys_a), runs(ys_b), log=True)
    assert plain.df == 9 and plain.se > 5 * change.se and plain.p_up > 0.05
    few = stats.paired(runs(ys_a[:3]), runs(ys_b[:3]), log=True, orders=["A", "B", "A"])
    assert few.df == 2 and "crossover" not in few.noise
    assert stats.is_crossover("ABBA") and not stats.is_crossover("AAAA")
    assert not stats.is_crossover("ABA") and not stats.is_crossover("")


def test_side_by_side_repetitions_are_students_paired_t_test() -> None:
    """Known answer: scipy's paired t-test on the pairs' log figures. The drift common to each
    pair (a repetition ×1 to ×8 as slow for both arms) cancels; B's 10% does not."""
    rng = np.random.default_rng(21)
    drift = np.log([1.0, 8.0, 2.0, 4.0, 1.5])
    ys_a = drift + rng.normal(0, 0.03, 5)
    ys_b = drift + np.log(1.1) + rng.normal(0, 0.03, 5)

    def runs(ys: np.ndarray) -> list[Estimate]:
        return [Estimate(float(np.exp(y)), float(y), 0.0009, 200) for y in ys]

    change = stats.paired(runs(ys_a), runs(ys_b), log=True)
    expected = scipy_stats.ttest_rel(ys_b, ys_a, alternative="greater")
    assert change.p_up == pytest.approx(expected.pvalue)
    assert change.d == pytest.approx(np.mean(ys_b - ys_a)) and change.df == 4
    assert change.p_up < 0.05
    # As interleaved runs (unpaired, each side's spread as its noise) the drift drowns it.
    a, b = runs(ys_a), runs(ys_b)
    sources = [s for s in (stats.source("A", a), stats.source("B", b)) if s]
    unpaired = stats.difference(a, b, sources, log=True)
    assert unpaired.p_up is not None and unpaired.p_up > 0.3
