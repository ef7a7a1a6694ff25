"""Scenarios on the real local stack: what routing changes is measured, not assumed."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lab import profile, results, scenarios
from lab.state import State
from tests.conftest import extra_router

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

SMALL_ROUTING = [
    "scenarios[0].users=6",
    "scenarios[0].rounds=4",
    "scenarios[0].user_qps=2",
]


def run_routing(stack: State, routing: str, tmp_path) -> dict:
    lab = profile.load("cpu", [f"router.routing={routing}", *SMALL_ROUTING])
    with extra_router(stack, routing) as endpoints:
        folder = scenarios.run(
            lab, dataclasses.replace(stack, endpoints=endpoints), ["routing"], tmp_path
        )
    results.load_manifest(folder)  # valid against its schema
    return json.loads((folder / "routing" / "summary.json").read_text())["levels"]["routing"]


def test_prefix_aware_routing_raises_the_prefix_cache_hit_rate(stack: State, tmp_path) -> None:
    round_robin = run_routing(stack, "roundrobin", tmp_path / "rr")
    prefix_aware = run_routing(stack, "prefixaware", tmp_path / "pa")
    assert round_robin["failed"] == prefix_aware["failed"] == 0
    assert prefix_aware["prefix_cache_hit_rate"] > round_robin["prefix_cache_hit_rate"]


def test_session_routing_is_fully_sticky(stack: State, tmp_path) -> None:
    session = run_routing(stack, "session", tmp_path)
    assert session["completed"] == 6 * 4
    assert session["session_stickiness"] == 1.0
    assert len([n for n in session["requests_per_engine"].values() if n]) == 2
