from __future__ import annotations

from lab.stack import metrics

PAGE = """\
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 3.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 4.0
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 200.0
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 150.0
"""


def test_samples_are_summed_over_labels() -> None:
    snapshot = metrics.parse(PAGE)
    assert snapshot[metrics.SERVED] == 7.0
    assert metrics.hit_rate(snapshot) == 0.75


def test_delta_per_engine_and_counter() -> None:
    before = {"engine-0": {metrics.SERVED: 2.0}, "engine-1": {metrics.SERVED: 5.0}}
    after = {"engine-0": {metrics.SERVED: 7.0}, "engine-1": {metrics.SERVED: 5.0}}
    assert metrics.delta(after, before) == {
        "engine-0": {metrics.SERVED: 5.0},
        "engine-1": {metrics.SERVED: 0.0},
    }


def test_hit_rate_of_nothing_is_zero() -> None:
    assert metrics.hit_rate({}) == 0.0


def test_a_reset_counter_counts_from_its_restart() -> None:
    before = {"engine-1": {metrics.SERVED: 50.0}}
    after = {"engine-1": {metrics.SERVED: 7.0}, "engine-2": {metrics.SERVED: 3.0}}
    assert metrics.delta(after, before) == {
        "engine-1": {metrics.SERVED: 7.0},
        "engine-2": {metrics.SERVED: 3.0},
    }
