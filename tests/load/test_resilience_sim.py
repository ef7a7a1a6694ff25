"""Resilience scenarios under Locust load against simulated engines behind the real
vllm-router: failover, and a scale-down whose removed replica still has streams open when it
leaves the router (each answer takes about 2 s). The same scenarios run on real vLLM in
test_resilience_stack.py."""

from __future__ import annotations

import csv
import json
import sys

import httpx
import pytest

from lab.config import profile
from lab.config.kinds import steady
from lab.load import scenarios
from lab.stack import processes
from tests.helpers.simstack import sim_stack

# Slow answers: 20 tokens 100 ms apart.
SLOW = "engine.simulated={ttft_ms: 20, tpot_ms: 100}"


def run(platform, current, tmp_path, scenario: str, *sets: str) -> tuple[dict, list[dict]]:
    lab = profile.load("cpu-resilience", [SLOW, "router.health_check_interval=1", *sets])
    folder = scenarios.run(lab, current, [scenario], tmp_path / "results", platform)
    place = folder / scenario
    figures = json.loads((place / "summary.json").read_text())["levels"][scenario]
    with (place / "requests.csv").open() as file:
        return figures, list(csv.DictReader(file))


@pytest.fixture(autouse=True)
def short_settling(monkeypatch) -> None:
    monkeypatch.setattr(steady, "SETTLE", 2)


# The drain under prefix-aware routing is the same path: full CI only (slow, about 20 s).
@pytest.mark.parametrize(
    "routing", ["roundrobin", pytest.param("prefixaware", marks=pytest.mark.slow)]
)
def test_scale_down_loses_no_request_and_says_how_long_the_drain_took(tmp_path, routing) -> None:
    sets = [f"router.routing={routing}", "router.health_check_interval=1"]
    with sim_stack(tmp_path / "state", *sets, simulated=SLOW) as (platform, current):
        figures, rows = run(
            platform, current, tmp_path, "scale", *sets,
            "scenarios[1].up_at=1", "scenarios[1].down_at=5", "scenarios[1].duration=10",
            "scenarios[1].output_tokens=20",
        )  # fmt: skip
        assert [e.name for e in current.require_endpoints().engines] == ["engine-0", "engine-1"]
    shown = ("in_flight_at_scale_down", "finished_after_scale_down", "drain_s", "failed_total")
    print(routing, json.dumps({k: figures[k] for k in shown}), file=sys.stderr)
    assert figures["removed_engine"] == "engine-2"
    # Streams were open on the removed replica when it left the router; they finished after.
    assert figures["in_flight_at_scale_down"] >= 1, figures
    assert figures["finished_after_scale_down"] == figures["in_flight_at_scale_down"]
    assert figures["failed_during_scale_down"] == 0 and figures["failed_total"] == 0, figures
    assert all(r["status"] == "ok" for r in rows)
    assert figures["drain_complete"] is True
    assert 0 < figures["drain_s"] < 10


def test_failover_under_load_on_simulated_engines(tmp_path) -> None:
    with sim_stack(tmp_path / "state", simulated=SLOW) as (platform, current):
        figures, rows = run(
            platform, current, tmp_path, "failover",
            "scenarios[0].kill_at=2", "scenarios[0].restart_at=4", "scenarios[0].duration=10",
        )  # fmt: skip
        restarted = current.require_endpoints().engine("engine-1")
        answer = httpx.get(f"{restarted.url}/v1/models", timeout=5)
        assert answer.headers["x-lab-engine"] == "engine-1"
        router = platform.router(current)
        assert processes.wait_until(lambda: all(w.healthy for w in router.workers()), 10)
    shown = ("failed_after_kill", "failover_time_s", "recovery_time_s", "failed_total")
    print(json.dumps({k: figures[k] for k in shown}), file=sys.stderr)
    # The kill is recorded and what it cut is counted: failures broke on engine-1 (or on no
    # engine) after the kill. When the restarted engine serves again through the router is
    # the router's circuit breaker's business here (seconds); the real-engine test holds it.
    assert figures["failover_time_s"] is not None and figures["failover_time_s"] < 10
    assert figures["failed_after_kill"] <= figures["failed_total"]
    failed = [r for r in rows if r["status"] != "ok"]
    assert all(r["engine"] in ("engine-1", "") for r in failed), failed
    assert figures["failed_after_kill"] == len(failed)
