"""`lab ab --concurrent` on simulated engines behind two real vllm-routers: both arms up at once,
one load spread evenly over them, A/ and B/ folders that `compare` reads, a known +20% TTFT
delay on B found by the gate and by the time-stratified view, both arms down afterwards."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from lab.cli import main
from lab.compare import runsets
from lab.load import concurrent, lifecycle
from lab.results import folder as results
from lab.results import manifest as manifests
from lab.results import paired
from lab.stack import processes
from tests.helpers.lab import gone, group_pids
from tests.helpers.simstack import needs_router

# The sim's own time to a first token is ttft_ms; the delay adds 20% of it on B.
SIM = "engine.simulated={ttft_ms: 50, tpot_ms: 5}"
COMMON = (SIM, "observability.prometheus=false", "scenarios[1].duration=12",
          "scenarios[1].concurrency=[4]")  # fmt: skip


@pytest.fixture
def came_up() -> list[str]:
    """The arms in the order they came up, A or B for each bring-up."""
    return []


@pytest.fixture
def started(monkeypatch, tmp_path, came_up) -> list[int]:
    """Every PID the arms' bring-ups started, gathered as they come up."""
    needs_router()
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(paired, "WINDOW_S", 2.0)  # enough windows in a short level
    pids: list[int] = []
    arms: list[list[int]] = []  # each bring-up's PIDs: A, B, A, B, … (fresh each repetition)
    real_up = lifecycle.up

    def up(*args, **kwargs):
        platform, current = real_up(*args, **kwargs)
        if len(arms) % 2:  # B: A of this repetition is still up beside it
            assert gone(arms[-1]) == arms[-1], "an arm went down before the other came up"
        else:  # A: the previous repetition's stacks are both down
            assert not gone(pids), "a repetition's stacks were still up at the next one"
        arms.append(group_pids(current))
        pids.extend(arms[-1])
        came_up.append(Path(os.environ["LAB_STATE_DIR"]).name.removeprefix("ab-"))
        return platform, current

    monkeypatch.setattr(lifecycle, "up", up)
    return pids


def ab(tmp_path: Path, *options: str, repeat: int = 1) -> int:
    sets = [f"--set-{side}={s}" for side in "ab" for s in COMMON]
    return main(
        ["ab", "cpu-quick", "cpu-quick", "--concurrent", "--repeat", str(repeat), "--scenario",
         "throughput", "--platform", "local", "--out", str(tmp_path / "results"), *sets,
         *options]
    )  # fmt: skip


@pytest.mark.slow  # three side-by-side repetitions, about a minute
def test_a_known_ttft_delay_on_b_is_caught_side_by_side(tmp_path, started, came_up, capsys) -> None:
    # Three repetitions: side by side, as interleaved, the runs are the units of the verdict.
    delay = "--set-b=engine.test_delay={ttft_share: 0.2}"
    code = ab(tmp_path, delay, "--fail-on-regression", repeat=3)
    said = capsys.readouterr().out
    (folder,) = (tmp_path / "results").iterdir()

    # Both arms were up at once, each with its own router, and are all gone now.
    assert len(set(started)) >= 4, said  # an engine and a router per arm (cpu-quick: one)
    assert processes.wait_until(lambda: not gone(started), timeout=15), gone(started)
    assert not (concurrent.arm_state_dir("A") / "state.json").exists()
    assert not (concurrent.arm_state_dir("B") / "state.json").exists()

    # One load generator, its requests split about evenly and each arm's requests at its own
    # router; the delay is recorded in B's manifest, not in A's.
    plan = json.loads((folder / "ab.json").read_text())
    run = plan["runs"][0]
    assert len(plan["runs"]) == 3
    # Which arm comes up first swaps every repetition; the router of the arm up first is the
    # load generator's host.
    assert came_up == ["A", "B", "B", "A", "A", "B"]
    assert [entry["first"] for entry in plan["runs"]] == ["A", "B", "A"]
    for entry in plan["runs"]:
        host = manifests.read(folder / entry["mixed"]).endpoints["router"]
        first = manifests.read(folder / entry[entry["first"]])
        assert host == first.endpoints["router"] and first.ab["first"] == entry["first"]
    with (folder / run["mixed"] / "throughput" / "requests.csv").open() as file:
        rows = list(csv.DictReader(file))
    arms = [r["arm"] for r in rows]
    assert set(arms) == {"A", "B"} and abs(arms.count("A") - arms.count("B")) <= 1
    a_run, b_run = (manifests.read(folder / run[side]) for side in "AB")
    assert a_run.ab == {"design": "concurrent", "arm": "A", "mixed": run["mixed"], "first": "A"}
    assert a_run.endpoints["router"] != b_run.endpoints["router"]
    assert b_run.profile["engine"]["test_delay"]["ttft_share"] == 0.2
    assert a_run.profile["engine"]["test_delay"] is None
    # Each arm's folder holds its own engines' counters, under their own names. (At least its
    # requests: on a shared machine another session's stale router may reach a port it took.)
    mixed = results.read_engines(folder / run["mixed"] / "throughput" / "engines.csv")["c4"]
    for side in "AB":
        mine = results.read_engines(folder / run[side] / "throughput" / "engines.csv")["c4"]
        assert mine == {"engine-0": mixed[f"{side}/engine-0"]}
        assert mine["engine-0"]["requests"] >= arms.count(side)

    # compare reads A/ and B/, each repetition a pair, and its gate fails on B's TTFT.
    assert [len(runsets.load(folder / side).runs) for side in "AB"] == [3, 3]
    assert code == 1, said
    verdicts = list(csv.DictReader((folder / "compare" / "compare.csv").open()))
    ttft = [v for v in verdicts if v["metric"] == "ttft_p50" and v["level"] == "c4"]
    assert ttft and ttft[0]["verdict"] == "worse", ttft
    assert ttft[0]["units"] == "side-by-side repetitions: 3 pairs", ttft

    # The time-stratified view: B slower in (nearly) every window, by about the set share.
    view = json.loads((folder / "windows.json").read_text())["units"]["throughput/c4"]["ttft_ms"]
    assert view["windows"] >= 6 and view["b_slower_in"] >= view["windows"] - 1, view
    assert 0.12 < view["median_change"] < 0.3, view
    assert view["p_value"] < 0.05
    assert "throughput/c4 ttft_ms: B vs A +" in said


def test_side_by_side_is_refused_where_it_cannot_run(tmp_path, started, capsys) -> None:
    # Different scenarios: one load generator cannot play both.
    code = ab(tmp_path, "--set-b=scenarios[1].output_tokens=8")
    assert code == 2
    assert "differ in scenarios" in capsys.readouterr().err
    assert started == [] and not (tmp_path / "results").exists()
