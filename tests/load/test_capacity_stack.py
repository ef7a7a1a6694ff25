"""The capacity search on the real local stack (two vLLM CPU engines behind vllm-router), with
tiny settings: short steps, a coarse precision, a one-minute budget."""

from __future__ import annotations

import csv
import json

import pytest

from lab.config import profile
from lab.load import scenarios
from lab.results import series
from lab.stack.state import State

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

TINY = [
    "scenarios[0].start_rate=4", "scenarios[0].precision=0.5", "scenarios[0].duration=6",
    "scenarios[0].budget=60", "scenarios[0].prompt_tokens=32", "scenarios[0].output_tokens=16",
]  # fmt: skip


def test_a_capacity_search_on_the_cpu_stack(stack: State, tmp_path) -> None:
    lab = profile.load("cpu-capacity", TINY)
    folder = scenarios.run(lab, stack, [], tmp_path)
    place = folder / "capacity"
    written = json.loads((place / "summary.json").read_text())
    result = written["capacity"]
    steps = result["steps"]
    assert len(steps) >= 2 and steps[0]["rate"] == 4, result["statement"]
    assert list(written["levels"]) == [step["level"] for step in steps]
    assert result["elapsed_s"] <= 60 + 60  # a step starts only if it fits (drains may run on)
    found = result["capacity_rps"] or result["capacity_at_least_rps"]
    assert found is not None and found >= 4, result["statement"]
    if result["capacity_rps"] is not None:
        assert result["limit"] is not None and result["bracket"]["fail_rps"] > found
    with (place / "requests.csv").open(newline="") as file:
        judged = [r["slo_ok"] for r in csv.DictReader(file) if r["phase"] == "run"]
    assert judged and set(judged) <= {"0", "1"}
    # vLLM's own gauges, from both engines, every step.
    rows = series.read(place / series.FILE)
    sources = {(r["source"], r["metric"]) for r in rows}
    for engine in ("engine-0", "engine-1"):
        assert {(engine, "running"), (engine, "waiting"), (engine, "kv_cache_usage")} <= sources
    assert {r["level"] for r in rows} == set(written["levels"])
    assert result["statement"] in (folder / "report.html").read_text()
