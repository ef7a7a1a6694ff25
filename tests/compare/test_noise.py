"""Noise profiles: what `lab calibrate` records from repeated runs, and what `compare --noise`
does with it. Repeated runs are made from a real recorded run, resampled, with a known drift."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.compare import estimates, noise, runsets, stats
from lab.compare.runsets import Unit
from lab.config.validation import violations
from tests.helpers.runs import PA1, PA2, QUIET, RR2, copy, keep_only, repeated

C1 = Unit("throughput", "throughput", "c1")


def test_a_profile_entry_splits_the_runs_spread_into_sampling_and_drift() -> None:
    """Known answer: runs at log values 0, 0.1 and 0.2 (sd 0.1), each with sampling variance
    0.001: sd 0.1, within sqrt(0.001), drift sqrt(0.01 - 0.001), 2 degrees of freedom."""
    runs = [
        {C1: estimates.LevelFigures({"ttft_p50": stats.Estimate(np.exp(y), y, 0.001, 100)}, {})}
        for y in (0.0, 0.1, 0.2)
    ]
    (entry,) = noise.entries([C1], runs)
    assert entry["metric"] == "ttft_p50" and entry["scale"] == "log" and entry["df"] == 2
    assert entry["sd"] == pytest.approx(0.1)
    assert entry["within_sd"] == pytest.approx(np.sqrt(0.001))
    assert entry["between_sd"] == pytest.approx(np.sqrt(0.009))
    assert entry["values"] == pytest.approx(list(np.exp([0.0, 0.1, 0.2])))


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, Path]:
    """`calibrate --from` three repeated throughput runs drifting 20% (log sd)."""
    tmp = tmp_path_factory.mktemp("calibrated")
    base = keep_only(copy(QUIET, tmp / "quiet"), "throughput")
    repeated(base, tmp / "runs", 3, 0.2, seed=1)
    assert main(["calibrate", "--from", str(tmp / "runs"), "--out", str(tmp / "results")]) == 0
    (folder,) = (tmp / "results").iterdir()
    return tmp, folder


def test_calibrate_from_recorded_runs_writes_a_valid_noise_profile(calibrated, capsys) -> None:
    tmp, folder = calibrated
    assert folder.name.startswith("calibration-") and folder.name.endswith("-cpu")
    document = json.loads((folder / "noise.json").read_text())
    assert violations(document, "noise-profile") == []
    assert document["runs"] == [str(p.resolve()) for p in sorted((tmp / "runs").iterdir())]
    c1 = {e["metric"]: e for e in document["entries"] if e["level"] == "c1"}
    assert c1["ttft_p50"]["runs"] == 3 and c1["ttft_p50"]["df"] == 2
    assert c1["error_rate"]["sd"] == 0  # no request failed in any run
    assert c1["e2e_p90"]["between_sd"] > c1["e2e_p90"]["within_sd"]  # the drift dominates


def test_compare_with_the_noise_profile_says_it_used_it(calibrated) -> None:
    tmp, folder = calibrated
    one, two, _ = sorted((tmp / "runs").iterdir())
    out = tmp / "compared"
    assert main(["compare", str(one), str(two), "--noise", str(folder), "--out", str(out)]) == 0
    with (out / "compare.csv").open(newline="") as file:
        ttft = next(r for r in csv.DictReader(file) if r["metric"] == "ttft_p50")
    assert ttft["noise"] == "noise profile (3 runs) (df 2)" and ttft["df"] == "2"
    assert "noise profile (3 runs) (df 2)" in (out / "compare.md").read_text()


def test_a_side_made_of_the_profiles_own_runs_counts_once(calibrated, capsys) -> None:
    tmp, folder = calibrated
    profile = noise.load(folder)
    from lab.compare import comparison, run

    options = run.options(["ttft_p50"], [], [], noise_path=str(folder))
    result = comparison.compare(runsets.load(tmp / "runs"), runsets.load(QUIET), options)
    assert "A's runs are the noise profile's own: they count once, in it" in result.notes
    first = next(r for r in result.rows if r.change)
    assert first.change is not None and first.change.noise == "noise profile (3 runs) (df 2)"
    assert profile.runs == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cpu", "--from", "RUNS"], "name a PROFILE to run, or --from RUNS already recorded"),
        ([], "name a PROFILE to run, or --from RUNS already recorded"),
        (["cpu", "--repeat", "2"], "--repeat 2: a noise profile needs at least 3 runs"),
        (["--from", "RR2+PA"], "its profile differs from"),
        (["--from", "PA"], "2 run(s); a noise profile needs at least 3"),
        (["--from", "nowhere"], "nowhere: not a folder"),
    ],
)
def test_calibrate_refuses_what_it_cannot_measure_before_writing(
    args, message, tmp_path, capsys
) -> None:
    mixed = tmp_path / "mixed"
    for run in (RR2, PA1, PA2):  # runs of the cpu profile, but not of one routing
        copy(run, mixed / run.name)
    places = {"RR2+PA": mixed, "PA": PA1.parent, "nowhere": tmp_path / "nowhere", "RUNS": mixed}
    args = [str(places.get(a, a)) for a in args]
    out = tmp_path / "results"
    assert main(["calibrate", *args, "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
