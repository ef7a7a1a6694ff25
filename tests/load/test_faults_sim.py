"""A faults scenario under load, on simulated engines behind the real vllm-router: each fault
kind once, briefly, in one level on one stack (kill, hang, slow, errors as HTTP 500 and as cut
streams, a router restart, Prometheus down). Every request is ok or classified, as many as
Locust counted; a hang keeps every request within the client's limits; each fault has its
figures in summary.json and its row in the report's timeline."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from lab.config import profile
from lab.config.kinds import steady
from lab.load import scenarios
from lab.stack import fault_control
from tests.helpers.simstack import sim_stack
from tests.load.test_failures_sim import locust_count

FIRST_BYTE_S, STALL_S = 2, 1
SIMULATED = "engine.simulated={ttft_ms: 20, tpot_ms: 20}"
# Engine-1 is killed last: vllm-router sends to a restarted engine only once its circuit
# breaker lets it (seconds), and the router's restart after it starts that afresh.
FAULTS = (
    "scenarios[0].faults=["
    "{fault: slow, engine: 1, at: 1, for: 2, delay_ms: 400},"
    "{fault: errors, engine: 0, at: 4, for: 2, share: 0.5},"
    "{fault: errors, engine: 1, at: 4, for: 2, share: 0.5, mode: cut},"
    "{fault: hang, engine: 0, at: 7, for: 3},"
    "{fault: kill, engine: 1, at: 11, for: 1},"
    "{fault: router_restart, at: 13, for: 0},"
    "{fault: prometheus_down, at: 14, for: 1}]"
)
SETS = [
    "router.health_check_interval=1",
    "observability.prometheus=true",
    f"load.timeouts={{first_byte_s: {FIRST_BYTE_S}, stall_s: {STALL_S}, total_s: 30}}",
    "scenarios[0].rate=8",
    "scenarios[0].duration=16",
    "scenarios[0].output_tokens=10",
    FAULTS,
]


@pytest.mark.slow
def test_each_fault_kind_once_under_load(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(steady, "SETTLE", 1)
    with sim_stack(tmp_path / "state", *SETS, name="faults", simulated=SIMULATED) as (
        platform,
        current,
    ):
        lab = profile.load("faults", [SIMULATED, *SETS])
        folder = scenarios.run(lab, current, ["faults"], tmp_path / "results", platform)
        token = fault_control.token()
        logs = "".join(p.read_text() for p in (tmp_path / "state" / "logs").iterdir())
    assert not fault_control.made()  # gone with the lab
    # The run's token is in no file of the results nor in the engines' or router's logs.
    written = "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())
    assert len(token) >= 24 and token not in written and token not in logs
    place = folder / "faults"
    with (place / "requests.csv").open() as file:
        samples = list(csv.DictReader(file))
    level = json.loads((place / "summary.json").read_text())["levels"]["faults"]
    faults = {f["fault"]: f for f in level["faults"]}
    print(json.dumps(level["faults"], indent=1), file=sys.stderr)

    # No request unaccounted for: each is ok or classified, as many as Locust sent.
    assert all((r["status"] == "ok") == (r["failure"] == "") for r in samples)
    assert len(samples) == locust_count(place / "faults" / "locust_stats.json")
    assert list(faults) == [
        "slow engine-1", "errors engine-0", "errors engine-1", "hang engine-0",
        "kill engine-1", "router_restart", "prometheus_down",
    ]  # fmt: skip
    # The hang held requests until the client gave up: never beyond its limits (5 s of slack).
    held = [r for r in samples if r["failure"].startswith("timeout")]
    assert max(float(r["e2e_ms"]) for r in samples) < (FIRST_BYTE_S + STALL_S + 5) * 1000
    assert held and faults["hang engine-0"]["affected_by_class"].get("timeout_first_byte")
    # Cut streams are the cut fault's, on its engine; the router cannot retry them away.
    assert faults["errors engine-1"]["affected_by_class"].get("stream_cut", 0) >= 1
    assert all(r["engine"] == "engine-1" for r in samples if r["failure"] == "stream_cut")
    # The slow engine's first chunks came 400 ms later, and it was not dropped for it.
    assert faults["slow engine-1"]["ttft_p50_on_engine_ms"] >= 400
    assert faults["slow engine-1"]["requests_affected"] == 0
    # The router's restart refused connections while it was down; nothing else broke then.
    assert set(faults["router_restart"]["affected_by_class"]) <= {"connect"}
    assert "vllm:* of engine-0, engine-1" in faults["prometheus_down"]["missing_series"]
    for figures in level["faults"]:
        assert figures["requests_affected"] == sum(figures["affected_by_class"].values())
    assert "Faults: faults" in (folder / "report.html").read_text()
