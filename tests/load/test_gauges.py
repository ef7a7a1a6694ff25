"""What saturates, sampled during every level of every scenario kind: the engines' gauges once a
second into engine_series.csv, summarised per level and plotted, against a simulated engine
behind the real vllm-router whose batch slots are known."""

from __future__ import annotations

import itertools
import json
import statistics

from lab.config import profile
from lab.load import scenarios
from lab.results import series
from tests.helpers.simstack import sim_stack


def test_every_level_samples_the_engines_gauges(write, tmp_path) -> None:
    """Two batch slots: one user never queues, four always keep two waiting."""
    path = write(
        "p.yaml",
        "name: sim\nengine: {replicas: 1}\nslo: {ttft_ms: 300}\nscenarios:\n"
        "  - {name: throughput, kind: throughput, concurrency: [1, 4], rates: [6], duration: 4,"
        " prompt_tokens: 16, output_tokens: 10, seed: 1}\n",
    )
    engine = "engine.simulated={ttft_ms: 50, tpot_ms: 30, max_batch: 2}"
    with sim_stack(tmp_path / "state", name=str(path), simulated=engine) as (platform, current):
        lab = profile.load(path, [engine])
        folder = scenarios.run(lab, current, [], tmp_path / "results", platform)
    place = folder / "throughput"
    rows = series.read(place / series.FILE)
    assert [r["level"] for r in rows[:1]] == ["c1"]
    for level in ("c1", "c4", "rate6"):
        mine = [r for r in rows if r["level"] == level]
        rounds = sorted({r["time"] for r in mine})
        assert len(rounds) >= 3, level  # once a second over a level of four
        gaps = [b - a for a, b in itertools.pairwise(rounds)]
        assert 0.8 < statistics.median(gaps) < 1.3, rounds
    written = json.loads((place / "summary.json").read_text())
    levels = written["levels"]
    assert (levels["c1"]["max_running"], levels["c1"]["max_waiting"]) == (1, 0)
    assert (levels["c4"]["max_running"], levels["c4"]["max_waiting"]) == (2, 2)
    assert levels["c4"]["mean_waiting"] > 1
    assert 0 < levels["c4"]["max_kv_cache_usage"] < 0.01  # 2 of 4096 blocks a request
    assert 0 < levels["c4"]["client_cpu_busiest"] < 1  # the Locust process's own CPU
    assert (levels["c4"]["users"], levels["c4"]["offered_rps"]) == (4, None)
    assert levels["rate6"]["offered_rps"] == 6
    # Two slots of 0.32 s serve about 6 requests/s: TTFT waits at c4, not at c1.
    # (c1 not at 100%: one request in ten may meet a busy machine's hiccup, not a queue.)
    assert levels["c1"]["slo_attainment"] >= 0.8 and levels["c4"]["slo_met"] is False
    assert levels["c4"]["slo_attainment"] < levels["c1"]["slo_attainment"]
    assert written["slo"]["ttft_ms"] == 300
    page = (folder / "report.html").read_text()
    # CDFs, timeline, engine queues, latency and goodput against rate, Pareto, per engine.
    assert page.count("data:image/png;base64,") == 8
