"""Verdicts that hold across runs: a known shift is caught when the run-to-run noise is known
(folders of runs, or a noise profile), and an unchanged run passes.

Two kinds of data: the recorded real runs as they are (recorded on a busy machine: their
figures differ by up to ×3.5 between runs), and repeated runs made from the quietest recorded
run with a known drift between them (each a resample of its real requests, so each has a real
run's sampling noise)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lab.cli import main
from lab.compare import gate as gate_set
from lab.compare import outcomes, stats
from tests.helpers.rendering import without_page
from tests.helpers.runs import PA1, PA2, QUIET, RR2, copy, keep_only, repeated, scaled

SHIFT = 1.3  # every TTFT and E2E raised by 30%
# The default gate's metrics only: the gate is the same, and the others (ITL above all) would
# only cost time here.
GATED = ["--metrics", ",".join(gate_set.DEFAULT)]


@pytest.fixture(autouse=True)
def no_page(monkeypatch) -> None:
    """These tests read compare.csv; compare.html of run sets and of a noise profile is rendered
    in test_compare and test_noise."""
    without_page(monkeypatch)


def rows(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (folder / "compare.csv").open(newline="") as file:
        return {(r["level"], r["metric"]): r for r in csv.DictReader(file)}


def gate(a: Path, b: Path, out: Path, *more: str) -> int:
    args = ["compare", str(a), str(b), "--fail-on-regression", "--out", str(out), *GATED]
    return main([*args, *more])


def shifted_copies(runs: list[Path], a: Path, b: Path) -> None:
    for run in runs:
        copy(run, a / run.name)
        scaled(run, b / run.name, SHIFT)


def test_recorded_runs_against_their_shifted_copies_as_folders(tmp_path) -> None:
    """The three recorded runs of the quieter machine against copies with TTFT and E2E +30%:
    runs as units, a test on the runs' log figures finds the shift at c4 with p ≈ 0.002, which
    no rank test can with three runs a side (its smallest p is 1/20). There the three runs
    agree more closely than their own sampling noise allows, so that noise is the variance,
    with its many degrees of freedom (stats._floored), and Holm over the default gate's 22
    tests (the first rejection needs p < 0.05/22 = 0.0023) fails it; the other levels' runs
    differ too much from one another (c1 TTFT p50 from 27 to 95 ms) to."""
    shifted_copies([RR2, PA1, PA2], tmp_path / "A", tmp_path / "B")
    assert gate(tmp_path / "A", tmp_path / "B", tmp_path / "default") == outcomes.REGRESSION
    found = rows(tmp_path / "default")
    c4 = found[("c4", "ttft_p50")]
    assert float(c4["change_pct"]) == pytest.approx(30, abs=0.1) and c4["units"] == "runs: 3 vs 3"
    assert float(c4["p_value"]) < 0.05 / 22 < 0.05 / 20
    assert c4["verdict"] == outcomes.WORSE
    assert sum(r["p_adjusted"] != "" for r in found.values()) == 22
    assert [k for k, r in found.items() if r["verdict"] == outcomes.WORSE] == [("c4", "ttft_p50")]
    assert gate(tmp_path / "A", tmp_path / "A", tmp_path / "same") == outcomes.OK


@pytest.fixture(scope="module")
def quiet(tmp_path_factory) -> Path:
    """The quietest recorded run's throughput levels, as the model of repeated runs."""
    tmp = tmp_path_factory.mktemp("quiet")
    return keep_only(copy(QUIET, tmp / QUIET.name), "throughput")


def test_three_runs_against_their_shifted_copies_fail_the_default_gate(quiet, tmp_path) -> None:
    """Three runs drifting 5% (log sd) from one another, against copies with +30%: the
    default gate fails, on the t-test of runs as units with Holm's correction."""
    runs = repeated(quiet, tmp_path / "runs", 3, 0.05, seed=3)
    shifted_copies(runs, tmp_path / "A", tmp_path / "B")
    assert gate(tmp_path / "A", tmp_path / "B", tmp_path / "o") == outcomes.REGRESSION
    found = rows(tmp_path / "o")
    worse = [metric for (_, metric), r in found.items() if r["verdict"] == outcomes.WORSE]
    assert worse and {metric.split("_")[0] for metric in worse} <= {"ttft", "e2e"}
    assert gate(tmp_path / "A", tmp_path / "A", tmp_path / "same") == outcomes.OK


@pytest.fixture(scope="module")
def profile(quiet, tmp_path_factory) -> Path:
    """A noise profile of eight repeated runs drifting 3% (log sd), made by calibrate."""
    tmp = tmp_path_factory.mktemp("profile")
    repeated(quiet, tmp / "runs", 8, 0.03, seed=1)
    assert main(["calibrate", "--from", str(tmp / "runs"), "--out", str(tmp / "results")]) == 0
    (folder,) = (tmp / "results").iterdir()
    return folder


def test_one_run_against_its_shifted_copy_fails_the_gate_with_a_noise_profile(
    quiet, profile, tmp_path
) -> None:
    (run,) = repeated(quiet, tmp_path / "new", 1, 0.03, seed=2)  # not one of the profile's
    copy_b = scaled(run, tmp_path / "B" / run.name, SHIFT)
    noise = ["--noise", str(profile)]
    assert gate(run, copy_b, tmp_path / "with", *noise) == outcomes.REGRESSION
    worse = rows(tmp_path / "with")[("c1", "e2e_p90")]
    assert worse["verdict"] == outcomes.WORSE
    # the profile's eight runs spread less than this run's own sampling noise: that is the floor
    assert worse["noise"] == f"noise profile (8 runs) (df 7){stats.FLOORED}"
    # without it, +30% is within what two runs can drift apart: inconclusive, not failed
    assert gate(run, copy_b, tmp_path / "without") == outcomes.OK
    unsure = rows(tmp_path / "without")[("c1", "e2e_p90")]
    assert unsure["verdict"] == outcomes.INCONCLUSIVE and unsure["reason"] == outcomes.NOISE_UNKNOWN
    assert gate(run, run, tmp_path / "itself", *noise) == outcomes.OK


def test_two_separate_runs_of_one_configuration_pass_with_the_noise_profile(
    quiet, profile, tmp_path
) -> None:
    one, two = repeated(quiet, tmp_path / "new", 2, 0.03, seed=4)
    assert gate(one, two, tmp_path / "o", "--noise", str(profile)) == outcomes.OK
