"""A level's figures have one name in code (compare's: ttft_p50) and keep the keys summary.json
has always had (p50_ttft_ms): a recorded run's summary is computed again, key for key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.compare import metrics as compare_metrics
from lab.results import folder as results
from lab.results import level, summary

RUN = Path(__file__).parent.parent / "data" / "compare" / "roundrobin" / "20261127T060156Z-cpu"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("ttft_p50", "p50_ttft_ms"),
        ("tpot_mean", "mean_tpot_ms"),
        ("e2e_p99", "p99_e2e_ms"),
        ("ttft_p50_per_engine", "p50_ttft_ms_per_engine"),
        ("ttft_p50_by_round", "p50_ttft_ms_by_round"),
        ("ttft_busiest_engine_p50", "ttft_busiest_engine_p50"),
        ("requests_per_s", "requests_per_s"),
    ],
)
def test_a_figure_s_one_name_gives_its_summary_key(name: str, key: str) -> None:
    assert level.key(name) == key


def test_every_latency_metric_compare_knows_is_a_figure_of_a_level() -> None:
    figures = summary.measure([])
    names = {m.name for m in compare_metrics.METRICS if m.family in level.LATENCIES}
    assert names and names <= set(figures.latency)


@pytest.mark.parametrize("scenario", ["routing", "throughput"])
def test_a_recorded_summary_is_computed_again_key_for_key(scenario: str) -> None:
    place = RUN / scenario
    recorded = json.loads((place / "summary.json").read_text())["levels"]
    engines = results.read_engines(place / "engines.csv")
    samples = summary.read_samples(place / "requests.csv")
    for name, written in recorded.items():
        mine = [s for s in samples if s.level == name]
        again = summary.summarize(mine, engines.get(name, {}))
        # This run's lab version wrote fewer figures than today's; those it wrote, in order.
        shared = [key for key in again if key in written]
        assert len(shared) >= 25 and shared == [key for key in written if key in again]
        for key in shared:
            assert json.loads(json.dumps(again[key])) == pytest.approx(written[key]), key
