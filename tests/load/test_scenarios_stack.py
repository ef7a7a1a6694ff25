"""Scenarios on the real local stack: what routing changes is measured, not assumed."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lab.config import profile
from lab.load import scenarios
from lab.results import manifest as manifests
from lab.stack.metrics import by_label
from lab.stack.state import State
from tests.helpers.stacks import extra_router

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
    manifest = manifests.read(folder)  # valid against its schema
    assert manifest.scenarios[0].seed is not None  # fresh prompts, recorded
    figures = json.loads((folder / "routing" / "summary.json").read_text())["levels"]["routing"]
    return figures, decisions


def test_session_and_prefix_aware_routing_raise_the_prefix_cache_hit_rate(
    stack: State, tmp_path
) -> None:
    """Against one round-robin run: session routing keeps every conversation on its engine, and
    vllm-router's cache_aware follows the conversations' token-ID prefixes (its own count of
    prefix hits says so); both raise the engines' prefix-cache hit rate."""
    round_robin, _ = run_routing(stack, "roundrobin", tmp_path / "rr")
    session, _ = run_routing(stack, "session", tmp_path / "session")
    prefix, decisions = run_routing(stack, "prefixaware", tmp_path / "prefix")
    assert round_robin["failed"] == session["failed"] == prefix["failed"] == 0
    assert session["completed"] == prefix["completed"] == 6 * 4
    assert session["session_stickiness"] == 1.0
    assert len([n for n in session["requests_per_engine"].values() if n]) == 2
    # Every later round of a conversation shares its earlier rounds' tokens: a prefix hit.
    assert decisions.get("prefix_hit", 0) >= 6 * 3, decisions
    assert "missing_tokens" not in decisions, decisions
    for routed in (session, prefix):
        assert routed["prefix_cache_hit_rate"] > round_robin["prefix_cache_hit_rate"]
        assert routed["request_cache_hit_rate"] > round_robin["request_cache_hit_rate"]
