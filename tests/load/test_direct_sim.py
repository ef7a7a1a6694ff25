"""Direct mode (a throughput scenario's `direct: true`): the same load sent straight to the
engines, round-robin by the client, never through the router. Simulated engines behind the real
vllm-router, whose own request counter shows whether it was touched."""

from __future__ import annotations

import csv
import os
import signal
from collections import Counter
from collections.abc import Iterator

import pytest

from lab.config import profile
from lab.config.kinds import steady
from lab.load import scenarios
from lab.platforms.local.platform import LocalPlatform
from lab.stack.metrics import by_label
from lab.stack.state import State
from tests.helpers.rendering import without_report
from tests.helpers.simstack import sim_stack

THROUGHPUT = [
    "scenarios[1].concurrency=[3]", "scenarios[1].rates=[]", "scenarios[1].duration=3",
    "scenarios[1].output_tokens=4",
]  # fmt: skip


def routed(router_metrics: str) -> float:
    return sum(by_label(router_metrics, "vllm_router_requests_total", "route").values())


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[tuple[LocalPlatform, State]]:
    """One stack for both runs: each reads only its own run's requests and router counts."""
    with sim_stack(tmp_path_factory.mktemp("state")) as up:
        yield up


def engines_served(
    shared: tuple[LocalPlatform, State],
    tmp_path,
    monkeypatch,
    *sets: str,
    router_paused: bool = False,
) -> tuple[Counter, float]:
    """(requests served by each engine as its x-lab-engine header said, requests the router
    counted) of one short throughput run; with `router_paused`, the router is stopped
    (SIGSTOP) for the run, so that a request sent through it would hang and fail."""
    monkeypatch.setattr(steady, "SETTLE", 0)
    without_report(monkeypatch)
    platform, current = shared
    where = current.require_endpoints()
    (router,) = [p for p in current.processes if p.name == "router"]
    before = routed(where.router_metrics)
    lab = profile.load("cpu", ["engine.simulated={ttft_ms: 5, tpot_ms: 5}", *sets])
    if router_paused:
        os.kill(router.pid, signal.SIGSTOP)  # the router this module started
    try:
        folder = scenarios.run(lab, current, ["throughput"], tmp_path / "results", platform)
    finally:
        os.kill(router.pid, signal.SIGCONT)
    through_router = routed(where.router_metrics) - before
    with (folder / "throughput" / "requests.csv").open() as file:
        rows = [row for row in csv.DictReader(file) if row["status"] == "ok"]
    return Counter(row["engine"] for row in rows), through_router


def test_direct_load_spreads_over_the_engines_and_never_touches_the_router(
    shared, tmp_path, monkeypatch
) -> None:
    # The router's own counter is not asked here: on a shared machine another lab's load may
    # find its port; a router that cannot answer is the proof.
    served, _ = engines_served(
        shared, tmp_path, monkeypatch, *THROUGHPUT, "scenarios[1].direct=true", router_paused=True
    )
    assert set(served) == {"engine-0", "engine-1"}, served
    assert abs(served["engine-0"] - served["engine-1"]) <= 3, served  # 3 users, one cycle
    assert sum(served.values()) > 10  # all while the router could answer nothing


def test_without_direct_the_same_load_goes_through_the_router(
    shared, tmp_path, monkeypatch
) -> None:
    served, through_router = engines_served(shared, tmp_path, monkeypatch, *THROUGHPUT)
    assert through_router >= sum(served.values()) > 10
