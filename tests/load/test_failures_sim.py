"""Every request that does not end well is classified (requests.csv's failure), and no request
waits longer than the client's limits (load.timeouts): simulated engines that meet each fault
on a known share of their requests, behind the real vllm-router, under a short throughput run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lab.config import profile
from lab.config.kinds import steady
from lab.load import scenarios
from lab.paths import asset
from lab.stack import processes
from tests.helpers.rendering import without_report
from tests.helpers.simstack import sim_stack

FIRST_BYTE_S, STALL_S = 2, 1
# vllm-router retries an engine's HTTP error on another engine before any byte reaches the
# client: an error share below 1 would seldom show, so errors have a run of their own.
FAULTS = "hold_share: 0.15, cut_share: 0.2, stall_share: 0.15, garble_share: 0.15"
ERRORS = "error_share: 1"
RUN = [
    "scenarios[1].concurrency=[4]", "scenarios[1].rates=[]", "scenarios[1].output_tokens=10",
    f"load.timeouts={{first_byte_s: {FIRST_BYTE_S}, stall_s: {STALL_S}, total_s: 30}}",
]  # fmt: skip


def simulated(faults: str) -> str:
    return f"engine.simulated={{ttft_ms: 5, tpot_ms: 5, {faults}}}"


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faults: str, seconds: int) -> Path:
    """A throughput run of 4 users for `seconds` on a stack whose engines meet `faults`; the
    scenario's folder."""
    monkeypatch.setattr(steady, "SETTLE", 0)
    without_report(monkeypatch)
    sets = [simulated(faults), *RUN, f"scenarios[1].duration={seconds}"]
    with sim_stack(tmp_path / "state", *sets, simulated=simulated(faults)) as (platform, up):
        lab = profile.load("cpu", sets)
        return scenarios.run(lab, up, ["throughput"], tmp_path / "results", platform) / "throughput"


def rows(samples: Path) -> list[dict[str, str]]:
    with samples.open() as file:
        return list(csv.DictReader(file))


def locust_count(stats: Path) -> int:
    """Locust's own count of the requests it sent (its stats, not the lab's samples)."""
    entries = json.loads(stats.read_text())
    return sum(e["num_requests"] for e in entries if e["method"] == "POST")


def test_each_fault_is_classified_and_no_request_outlasts_the_limits(tmp_path, monkeypatch) -> None:
    place = run(tmp_path, monkeypatch, FAULTS, seconds=4)
    samples = rows(place / "requests.csv")
    classes = Counter(row["failure"] for row in samples)
    expected = {"", "timeout_first_byte", "stream_cut", "timeout_stall", "bad_response"}
    assert set(classes) == expected, classes
    assert all((row["status"] == "ok") == (row["failure"] == "") for row in samples)
    # A request's e2e_ms is how long it ran until it ended: a held one within first_byte_s, a
    # stalled one within its last chunk and stall_s (5 s of slack for a loaded machine).
    longest = {c: max(float(r["e2e_ms"]) for r in samples if r["failure"] == c) for c in classes}
    assert longest["timeout_first_byte"] < (FIRST_BYTE_S + 5) * 1000, longest
    assert longest["timeout_stall"] < (STALL_S + 5) * 1000, longest
    assert all(r["engine"] for r in samples if r["failure"] != "timeout_first_byte")
    assert sum(classes.values()) == locust_count(place / "c4" / "locust_stats.json")
    assert level_failures(place) == measured_failures(samples)


def test_errors_the_router_cannot_retry_away_are_their_status(tmp_path, monkeypatch) -> None:
    place = run(tmp_path, monkeypatch, ERRORS, seconds=1)
    samples = rows(place / "requests.csv")
    classes = Counter(row["failure"] for row in samples)
    # The engines' own 500, and the router's 503 once it stops sending to engines that fail.
    assert "http_500" in classes and set(classes) <= {"http_500", "http_503"}, classes
    assert sum(classes.values()) == locust_count(place / "c4" / "locust_stats.json")
    assert level_failures(place) == measured_failures(samples)


def measured_failures(samples: list[dict[str, str]]) -> dict[str, int]:
    """Failures by class as the summary counts them: not those of requests drained at the end."""
    return dict(Counter(r["failure"] for r in samples if r["failure"] and r["phase"] == "run"))


def level_failures(place: Path) -> dict[str, int]:
    """The failures by class of the scenario's one level, as its summary.json has them."""
    (level,) = json.loads((place / "summary.json").read_text())["levels"].values()
    return level["failures"]


def test_a_port_nothing_listens_on_is_a_connect_failure(tmp_path) -> None:
    port = processes.free_port(20000)
    samples = tmp_path / "requests.csv"
    command = [
        sys.executable, "-m", "locust", "-f", str(asset("locustfiles", "throughput.py")),
        "--headless", "-u", "1", "-r", "1", "-t", "1s", "--host", f"http://127.0.0.1:{port}",
        "--json-file", str(tmp_path / "stats"), "--exit-code-on-error", "0",
        "--lab-samples", str(samples), "--lab-prompt-tokens", "4", "--lab-output-tokens", "2",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    classes = Counter(row["failure"] for row in rows(samples))
    assert set(classes) == {"connect"}, classes
    assert sum(classes.values()) == locust_count(tmp_path / "stats.json")
