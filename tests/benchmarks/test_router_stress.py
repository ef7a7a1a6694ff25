"""The router-stress benchmark (benchmarks/router_stress.py) as the lead runs it: one small
step of 100 streams on simulated engines behind the real vllm-router, and its refusal of a
step its file-descriptor limit cannot hold."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.simstack import needs_router

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "router_stress.py"


def benchmark(*args: str, nofile: int | None = None) -> subprocess.CompletedProcess[str]:
    """The benchmark run as `nox -s benchmark` runs it, under a hard RLIMIT_NOFILE if given."""

    def limited() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parents[1])}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True, text=True, timeout=300, env=env, preexec_fn=limited,
    )  # fmt: skip


@pytest.mark.slow
def test_one_step_of_100_streams_is_measured_through_the_router(tmp_path) -> None:
    needs_router()
    figures = tmp_path / "stress.json"
    done = benchmark(
        "--steps", "100", "--ramp", "3", "--hold", "8", "--tpot-ms", "200",
        "--output-tokens", "20", "--json", str(figures),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(figures.read_text())
    (step,) = result["steps"]
    assert step["streams"] == 100 and result["engines"] == 2
    # 100 streams of about 4 s each, held 8 s: some 200 requests, each paired with its engine's.
    assert step["requests"] > 100 and step["paired"] == step["requests"] - sum(
        step["failures"].values()
    )
    assert step["router_fds"] >= 200  # a connection from each stream and one to its engine
    assert step["client_fds"] >= 100
    assert step["router_rss_mb"] > result["router_idle_rss_mb"] > 1
    assert 0 <= step["added_p50_ms"] <= step["added_p99_ms"]
    assert result["rlimit_nofile"]["router"] == result["rlimit_nofile"]["client"] > 0
    assert ("first step that broke" in done.stdout) == (result["first_break"] is not None)


@pytest.mark.slow
def test_a_step_above_a_limit_it_cannot_raise_is_refused_before_anything_starts(
    tmp_path,
) -> None:
    done = benchmark("--steps", "100,250", "--json", str(tmp_path / "x.json"), nofile=400)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --steps: 250 streams need about 700 open files in the router (2 a stream + "
        "200); RLIMIT_NOFILE cannot be raised above 400 here (raise the hard limit: ulimit "
        "-Hn, limits.conf)"
    )
    assert not (tmp_path / "x.json").exists()
