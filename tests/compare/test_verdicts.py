"""The verdict policy, table-driven: each metric's direction and threshold, the gate's Holm
correction over gated metrics, and the floor for single runs whose run-to-run noise is unknown.
The changes are made up with known p-values; nothing is measured here."""

from __future__ import annotations

import math

import pytest

from lab.compare import comparison, gate, stats
from lab.compare import metrics as compare_metrics
from lab.compare.comparison import Assessed, Options
from lab.compare.outcomes import BETTER, INCONCLUSIVE, NA, SAME, WORSE
from lab.compare.runsets import Unit
from lab.errors import ConfigError

ROUTING = Unit("routing", "routing", "routing")
PROFILE = "noise profile (10 runs) (df 9)"


def change(metric: str, a: float, b: float, p: float, noise: str = PROFILE) -> stats.Change:
    """B against A with this one-sided p-value in the direction of the change."""
    log = compare_metrics.BY_NAME[metric].log
    d = math.log(b / a) if log else b - a
    p_up = p if d > 0 else 1 - p
    return stats.Change(a, b, d, abs(d) / 3 or 0.1, 9, log, noise, p_up)


def judged(*items: tuple[str, stats.Change | None], **options) -> list:
    chosen = Options(tuple(compare_metrics.METRICS), gate.select([], compare_metrics.METRICS),
                     compare_metrics.thresholds([]), **options)  # fmt: skip
    assessed = [
        Assessed(ROUTING, compare_metrics.BY_NAME[name], chosen.gate.covers(name, "routing"),
                 c, "no requests", "requests", 100, 100)
        for name, c in items
    ]  # fmt: skip
    return comparison.judge(assessed, chosen)


@pytest.mark.parametrize(
    ("metric", "a", "b", "p", "expected"),
    [
        ("ttft_p50", 100, 120, 0.001, WORSE),  # latency up 20%: worse
        ("ttft_p99", 100, 80, 0.001, BETTER),  # latency down 20%: better
        ("itl_p90", 100, 105, 0.001, SAME),  # significant but within 10%
        ("tpot_p50", 100, 150, 0.5, SAME),  # large but not significant
        ("requests_per_s", 10, 9.4, 0.001, WORSE),  # throughput down 6%: worse
        ("output_tokens_per_s", 10, 10.6, 0.001, BETTER),
        ("output_tokens_per_s", 10, 10.4, 0.001, SAME),
        ("error_rate", 0.0001, 0.02, 0.001, WORSE),  # +2 points
        ("error_rate", 0.05, 0.055, 0.001, SAME),  # +0.5 points
        ("prefix_cache_hit_rate", 0.6, 0.8, 0.001, BETTER),  # +20 points
        ("prefix_cache_hit_rate", 0.6, 0.57, 0.001, SAME),  # -3 points
        ("prefix_cache_hit_rate", 0.6, 0.5, 0.001, WORSE),
        ("session_stickiness", 0.5, 1.0, 0.001, BETTER),
        ("engine_balance", 1.0, 0.5, 0.001, WORSE),
        ("engine_balance", 1.0, 0.95, 0.001, SAME),
    ],
)
def test_verdicts_know_each_metrics_direction_and_threshold(metric, a, b, p, expected) -> None:
    (found,) = judged((metric, change(metric, a, b, p)))
    assert found.verdict.word == expected


def test_a_missing_metric_is_na_with_its_reason() -> None:
    (found,) = judged(("ttft_p50", None))
    assert found.verdict.word == NA and str(found.verdict) == "n/a (no requests)"


def test_gated_metrics_are_judged_together_with_holm() -> None:
    """p = 0.01 passes alone, but among 8 gated tests Holm needs 0.05/8 for the smallest."""
    gated = ["ttft_p50", "ttft_p90", "tpot_p50", "e2e_p90", "output_tokens_per_s",
             "error_rate", "prefix_cache_hit_rate", "session_stickiness"]  # fmt: skip
    others = [(name, change(name, 0.5, 0.5001, 0.5)) for name in gated[1:]]
    (alone,) = judged(("ttft_p50", change("ttft_p50", 100, 150, 0.01)))
    first, *_ = judged(("ttft_p50", change("ttft_p50", 100, 150, 0.01)), *others)
    assert alone.verdict.word == WORSE and alone.p_adjusted == pytest.approx(0.01)
    assert first.verdict.word == SAME and first.p_adjusted == pytest.approx(0.08)
    strong, *_ = judged(("ttft_p50", change("ttft_p50", 100, 150, 0.001)), *others)
    assert strong.verdict.word == WORSE and strong.p_adjusted == pytest.approx(0.008)


def test_metrics_not_gated_are_each_judged_at_alpha() -> None:
    gated_one = [("ttft_p50", change("ttft_p50", 100, 101, 0.4))] * 9
    found = judged(*gated_one, ("ttft_p99", change("ttft_p99", 100, 150, 0.04)))
    assert not found[-1].gated and found[-1].p_adjusted is None
    assert found[-1].verdict.word == WORSE  # on its own, at alpha


def test_without_run_to_run_noise_single_runs_are_judged_only_beyond_the_floor() -> None:
    near = change("ttft_p50", 100, 550, 1e-6, noise=comparison.WITHIN_ONLY)  # real runs drift so
    far = change("ttft_p50", 100, 1100, 1e-6, noise=comparison.WITHIN_ONLY)
    rate = change("error_rate", 0.01, 0.04, 1e-6, noise=comparison.WITHIN_ONLY)  # +3 points
    found = judged(("ttft_p50", near), ("ttft_p90", far), ("error_rate", rate))
    assert [f.verdict.word for f in found] == [INCONCLUSIVE, WORSE, INCONCLUSIVE]
    assert "run-to-run noise unknown" in found[0].verdict.reason
    (old,) = judged(("ttft_p50", near), floor=False)  # the old gate judged on it anyway
    assert old.verdict.word == WORSE


@pytest.mark.parametrize(
    ("metric", "higher_is_better", "threshold", "relative"),
    [
        ("ttft_p50", False, 10, True),
        ("e2e_p99", False, 10, True),
        ("requests_per_s", True, 5, True),
        ("output_tokens_per_s", True, 5, True),
        ("error_rate", False, 1, False),
        ("prefix_cache_hit_rate", True, 5, False),
        ("session_stickiness", True, 5, False),
        ("engine_balance", True, 10, False),
    ],
)
def test_default_directions_and_thresholds(metric, higher_is_better, threshold, relative) -> None:
    found = compare_metrics.BY_NAME[metric]
    assert (found.higher_is_better, found.threshold, found.relative) == (
        higher_is_better,
        threshold,
        relative,
    )


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["ttft_p99=15"], {"ttft_p99": 15, "ttft_p50": 10}),
        (["ttft=20%"], {"ttft_p50": 20, "ttft_p90": 20, "ttft_p99": 20, "e2e_p50": 10}),
        (["throughput=2.5", "error_rate=0.5"], {"requests_per_s": 2.5, "error_rate": 0.5}),
    ],
)
def test_thresholds_override_metrics_or_families(items, expected) -> None:
    found = compare_metrics.thresholds(items)
    assert {k: found[k] for k in expected} == expected


def test_metrics_are_chosen_by_name_or_family_in_catalogue_order() -> None:
    chosen = compare_metrics.select(["error_rate,ttft", "requests_per_s"])
    assert [m.name for m in chosen] == [
        "ttft_p50",
        "ttft_p90",
        "ttft_p99",
        "requests_per_s",
        "error_rate",
    ]
    assert len(compare_metrics.select([])) == len(compare_metrics.METRICS)
    with pytest.raises(ConfigError, match="or a family: ttft, tpot, itl, e2e, throughput"):
        compare_metrics.select(["p99"])
