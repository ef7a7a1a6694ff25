"""compare on the real local stack: the routing scenario under prefix-aware routing against
round-robin, on the same engines, compared the way a user would (lab.compare_report.run).

The scenario's prompts are the same in every run (seeded), so a run finds in the engines'
prefix caches whatever the run before it left there: measured one after the other on warm
engines, the second run's hit rate rises whatever its routing (seen in the recorded runs of
tests/data/compare: about +20 points from the first run to the second, same routing). The
engines are therefore restarted before each run, so that both start cold and only the routing
differs.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from lab import compare_report, profile, scenarios
from lab.compare import BETTER
from lab.platforms import local
from lab.state import State
from tests.conftest import extra_router

# Four engine restarts (about a minute each on two cores) and two routing runs.
pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]
GATED = ["prefix_cache_hit_rate", "session_stickiness", "engine_balance", "error_rate"]


def cold_run(stack: State, routing: str, base: Path) -> Path:
    """The default profile's routing scenario behind a router of this routing, on engines
    restarted just before (empty prefix caches)."""
    lab = profile.load("cpu", [f"router.routing={routing}"])
    platform = local.LocalPlatform()
    for index in range(len(stack.endpoints.engines)):
        platform.restart_engine(stack, index, lab)
    with extra_router(stack, routing) as endpoints:
        return scenarios.run(
            lab, dataclasses.replace(stack, endpoints=endpoints), ["routing"], base
        )


def test_prefix_aware_routing_raises_the_hit_rate_significantly(stack: State, tmp_path) -> None:
    round_robin = cold_run(stack, "roundrobin", tmp_path / "rr")
    prefix_aware = cold_run(stack, "prefixaware", tmp_path / "pa")
    out = tmp_path / "compare"
    compare_report.run(round_robin, prefix_aware, GATED, [], 0.05, out, False)
    with (out / "compare.csv").open(newline="") as file:
        found = {r["metric"]: r for r in csv.DictReader(file) if r["level"] == "routing"}
    hit, errors = found["prefix_cache_hit_rate"], found["error_rate"]
    assert float(errors["a"]) == float(errors["b"]) == 0
    assert hit["units"] == "requests (cached / prompt tokens)"
    figures = {m: (r["a"], r["b"], r["p_value"], r["verdict"]) for m, r in found.items()}
    assert hit["verdict"] == BETTER and hit["significant"] == "True", (
        f"round-robin → prefix-aware (A, B, p, verdict): {figures}; full report in {out}. "
        "If stickiness did not rise either, the router did not route by prefix "
        "(vllm-router's cache_aware balances load first when requests are concurrent)."
    )
