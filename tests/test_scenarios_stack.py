"""Scenarios on the real local stack: what routing changes is measured, not assumed."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lab import profile, results, scenarios
from lab.metrics import by_label
from lab.state import State
from tests.conftest import extra_router

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

SMALL_ROUTING = ["scenarios[0].users=6", "scenarios[0].rounds=4", "scenarios[0].user_qps=2"]


def run_routing(stack: State, routing: str, tmp_path) -> tuple[dict, dict]:
    """The routing scenario behind a router of this routing: its figures, and the router's
    own count of its prefix-routing decisions by outcome."""
    lab = profile.load("cpu", [f"router.routing={routing}", *SMALL_ROUTING])
    with extra_router(stack, routing) as endpoints:
        folder = scenarios.run(
            lab, dataclasses.replace(stack, endpoints=endpoints), ["routing"], tmp_path
        )
        decisions = by_label(
            endpoints.router_metrics, "vllm_router_prefix_routing_decisions_total", "outcome"
        )
    manifest = results.load_manifest(folder)  # valid against its schema
    assert manifest["scenarios"][0]["seed"] is not None  # fresh prompts, recorded
    figures = json.loads((folder / "routing" / "summary.json").read_text())["levels"]["routing"]
    return figures, decisions


def test_session_routing_is_sticky_and_raises_the_prefix_cache_hit_rate(
    stack: State, tmp_path
) -> None:
    round_robin, _ = run_routing(stack, "roundrobin", tmp_path / "rr")
    session, _ = run_routing(stack, "session", tmp_path / "session")
    assert round_robin["failed"] == session["failed"] == 0
    assert session["completed"] == 6 * 4
    assert session["session_stickiness"] == 1.0
    assert len([n for n in session["requests_per_engine"].values() if n]) == 2
    assert session["prefix_cache_hit_rate"] > round_robin["prefix_cache_hit_rate"]
    assert session["request_cache_hit_rate"] > round_robin["request_cache_hit_rate"]


def test_prefix_aware_routing_as_vllm_router_does_it(stack: State, tmp_path) -> None:
    """Pins what vllm-router 0.1.17's cache_aware does with text prompts over HTTP workers: it
    routes on token IDs, which it does not compute for HTTP workers, so every decision is
    'missing_tokens' and prefixes are not followed (see the README). When a router version
    routes text by prefix, this test fails and the README must change."""
    figures, decisions = run_routing(stack, "prefixaware", tmp_path)
    assert figures["failed"] == 0 and figures["completed"] == 6 * 4
    assert decisions.get("missing_tokens", 0) >= figures["completed"]
    assert set(decisions) == {"missing_tokens"}
