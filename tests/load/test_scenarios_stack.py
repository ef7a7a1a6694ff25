"""Scenarios on the real local stack: what routing changes is measured, not assumed. The runs
are the shared `routing_runs` (tests/conftest.py), which tests/compare/test_compare_stack.py
compares too: the cpu profile's routing scenario behind three routers over the same engines."""

from __future__ import annotations

import json

import pytest

from lab.config import profile
from lab.results import manifest as manifests
from tests.helpers.stacks import RoutingRun

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]


def figures(run: RoutingRun) -> dict:
    """The routing level's figures, from a results folder valid against its schema."""
    manifest = manifests.read(run.folder)
    assert manifest.scenarios[0].seed is not None  # fresh prompts, recorded
    return json.loads((run.folder / "routing" / "summary.json").read_text())["levels"]["routing"]


def test_session_and_prefix_aware_routing_raise_the_prefix_cache_hit_rate(
    routing_runs: dict[str, RoutingRun],
) -> None:
    """Against one round-robin run: session routing keeps every conversation on its engine, and
    vllm-router's cache_aware follows the conversations' token-ID prefixes (its own count of
    prefix hits says so); both raise the engines' prefix-cache hit rate."""
    round_robin, session, prefix = (
        figures(routing_runs[r]) for r in ("roundrobin", "session", "prefixaware")
    )
    decisions = routing_runs["prefixaware"].decisions
    scenario = profile.load("cpu").scenarios[0]
    users, rounds = scenario.users, scenario.rounds
    assert round_robin["failed"] == session["failed"] == prefix["failed"] == 0
    assert session["completed"] == prefix["completed"] == users * rounds
    assert session["session_stickiness"] == 1.0
    assert len([n for n in session["requests_per_engine"].values() if n]) == 2
    # Every later round of a conversation shares its earlier rounds' tokens: a prefix hit.
    assert decisions.get("prefix_hit", 0) >= users * (rounds - 1), decisions
    assert "missing_tokens" not in decisions, decisions
    for routed in (session, prefix):
        assert routed["prefix_cache_hit_rate"] > round_robin["prefix_cache_hit_rate"]
        assert routed["request_cache_hit_rate"] > round_robin["request_cache_hit_rate"]
