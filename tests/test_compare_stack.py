"""compare on the real local stack: the routing scenario under session routing against
round-robin, on the same engines, compared the way a user would (lab.compare_report.run).

Every run draws fresh prompts (a new seed), so a run never finds in the engines' prefix caches
what the run before it left: only the routing differs.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from lab import compare_report, profile, scenarios
from lab.compare import BETTER
from lab.state import State
from tests.conftest import extra_router

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1200)]
GATED = ["prefix_cache_hit_rate", "session_stickiness", "error_rate"]


def routing_run(stack: State, routing: str, base: Path) -> Path:
    lab = profile.load("cpu", [f"router.routing={routing}"])
    with extra_router(stack, routing) as endpoints:
        return scenarios.run(
            lab, dataclasses.replace(stack, endpoints=endpoints), ["routing"], base
        )


def test_session_routing_raises_the_hit_rate_significantly(stack: State, tmp_path) -> None:
    round_robin = routing_run(stack, "roundrobin", tmp_path / "rr")
    session = routing_run(stack, "session", tmp_path / "session")
    out = tmp_path / "compare"
    compare_report.run(round_robin, session, GATED, [], 0.05, out, False)
    with (out / "compare.csv").open(newline="") as file:
        found = {r["metric"]: r for r in csv.DictReader(file) if r["level"] == "routing"}
    hit, errors = found["prefix_cache_hit_rate"], found["error_rate"]
    assert float(errors["a"]) == float(errors["b"]) == 0
    assert hit["units"] == "requests (cached / prompt tokens)"
    figures = {m: (r["a"], r["b"], r["p_value"], r["verdict"]) for m, r in found.items()}
    assert hit["verdict"] == BETTER and hit["significant"] == "True", figures
    assert found["session_stickiness"]["verdict"] == BETTER, figures
