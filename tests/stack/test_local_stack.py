"""The real stack: vLLM CPU engines of the tiny model behind the real vllm-router."""

from __future__ import annotations

import os
import shutil
from collections import Counter

import httpx
import openai
import pytest

from lab.config import commandlines, profile
from lab.platforms.local import platform as local
from lab.stack import processes, routing_check, smoke, state
from lab.stack.metrics import SERVED, engine_counters
from lab.stack.state import State
from tests.helpers.lab import lab_cli
from tests.helpers.stacks import extra_router

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]


def test_smoke_passes_through_the_router_and_each_engine(stack: State) -> None:
    results = smoke.run(stack.endpoints)
    names = [r.name for r in results]
    assert all(r.passed for r in results)
    assert "router: streamed chat completion" in names
    assert {"engine-0: /metrics", "engine-1: /metrics"} <= set(names)
    assert len(results) == 3 * len(smoke.CHECKS) + 2


def test_round_robin_spreads_requests_evenly(stack: State) -> None:
    verdict = routing_check.run(stack.endpoints)
    assert verdict.passed
    assert verdict.figures["requests_per_engine"] == {"engine-0": 6, "engine-1": 6}


def test_session_routing_keeps_every_session_on_one_engine(stack: State) -> None:
    with extra_router(stack, "session") as endpoints:
        verdict = routing_check.run(endpoints)
    assert verdict.passed
    assert verdict.figures == {"sticky_sessions": 12, "engines_used": 2}


def test_prefix_aware_routing_returns_prefixes_to_their_engine(stack: State) -> None:
    with extra_router(stack, "prefixaware") as endpoints:
        verdict = routing_check.run(endpoints)
    assert verdict.passed
    assert verdict.figures["followed"] == verdict.figures["repeats"] == 12
    assert verdict.figures["hit_rate"] > 0.5
    # Followed because the router matched them: it was sent token IDs (lab.inproc.chat_tokens).
    assert verdict.figures["router_decisions"].get("prefix_hit", 0) >= 12


def _homes(endpoints, headers_for, body_for) -> dict[str, set[str]]:
    """Which engines served each of 8 sessions × 3 requests (distinct texts each time)."""
    client = openai.OpenAI(base_url=f"{endpoints.router}/v1", api_key="EMPTY", max_retries=0)
    homes: dict[str, set[str]] = {}
    with httpx.Client() as http:
        for round_ in range(3):
            for session in range(8):
                before = engine_counters(endpoints.engines, http)
                client.chat.completions.create(
                    model=endpoints.model,
                    messages=[{"role": "user", "content": f"round {round_} of session {session}"}],
                    max_tokens=1,
                    extra_headers=headers_for(session),
                    extra_body=body_for(session),
                )
                assert processes.wait_until(
                    lambda b=before: engine_counters(endpoints.engines, http) != b, timeout=5
                )
                after = engine_counters(endpoints.engines, http)
                (engine,) = [n for n in after if after[n][SERVED] > before[n][SERVED]]
                homes.setdefault(f"s{session}", set()).add(engine)
    return homes


@pytest.mark.parametrize("header", commandlines.SESSION_HEADERS)
def test_consistent_hash_keys_on_this_header(stack: State, header: str) -> None:
    """Pins what vllm-router's consistent_hash reads: each session sticks, sessions spread."""
    with extra_router(stack, "session") as endpoints:
        homes = _homes(endpoints, lambda s: {header: f"user-{s}"}, lambda s: {})
    assert all(len(engines) == 1 for engines in homes.values()), homes
    assert len(set().union(*homes.values())) == 2


@pytest.mark.parametrize(
    ("headers_for", "body_for"),
    [
        (lambda s: {"x-my-session": f"user-{s}"}, lambda s: {}),
        (lambda s: {}, lambda s: {"user": f"user-{s}"}),
    ],
    ids=["unknown header", "body field user"],
)
def test_consistent_hash_ignores_other_keys(stack: State, headers_for, body_for) -> None:
    """Without a known header, chat requests of 8 different sessions all land on one engine:
    the key is not read (which is why the lab refuses other session keys locally)."""
    with extra_router(stack, "session") as endpoints:
        homes = _homes(endpoints, headers_for, body_for)
    assert len(set().union(*homes.values())) == 1


def test_status_shows_every_component(stack: State) -> None:
    done = lab_cli("status", state_dir=state.path().parent)
    assert done.returncode == 0, done.stdout + done.stderr
    for engine in stack.endpoints.engines:
        assert engine.url in done.stdout
    assert "🔀 router" in done.stdout and "✅ healthy" in done.stdout
    assert "requests served" in done.stdout


def test_prometheus_scrapes_every_engine_and_the_router(stack: State) -> None:
    if shutil.which("prometheus") is None:
        if os.environ.get("LAB_REQUIRE_PROMETHEUS"):
            pytest.fail("prometheus is not installed but this run requires it")
        pytest.skip("prometheus not installed (apt install prometheus)")
    url = stack.endpoints.prometheus
    assert url

    def all_up() -> bool:
        health = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return len(health) == 3 and all(t["health"] == "up" for t in health)

    assert processes.wait_until(all_up, timeout=30)
    query = httpx.get(f"{url}/api/v1/query", params={"query": SERVED}, timeout=5).json()["data"][
        "result"
    ]
    instances = Counter(series["metric"]["instance"] for series in query)
    assert set(instances) == {e.url.removeprefix("http://") for e in stack.endpoints.engines}


def test_a_second_up_says_a_lab_is_running(stack: State) -> None:
    done = lab_cli("up", "--profile", "cpu", "--platform", "local", state_dir=state.path().parent)
    assert done.returncode == 1
    assert "a lab is already up here (cpu on local" in done.stderr
    assert state.load().processes == stack.processes  # nothing was started or recorded


def test_a_killed_engine_shows_in_status_and_fails_smoke(stack: State) -> None:
    platform = local.LocalPlatform()
    killed = next(p for p in stack.processes if p.name == "engine-1")
    assert platform.kill_engine(stack, 1) == f"killed engine-1 (pid {killed.pid})"
    assert processes.wait_until(lambda: not processes.alive(killed), timeout=10)
    try:
        status = lab_cli("status", state_dir=state.path().parent)
        assert status.returncode == 1
        line = next(row for row in status.stdout.splitlines() if "engine-1" in row)
        assert "❌ down (not running)" in line
        smoked = lab_cli("smoke", state_dir=state.path().parent)
        assert smoked.returncode == 1
        assert "engine-1: list models" in smoked.stderr.split("smoke test failed:")[1]
    finally:
        platform.restart_engine(stack, 1, profile.load("cpu"))
    assert all(r.passed for r in smoke.run(stack.endpoints))
