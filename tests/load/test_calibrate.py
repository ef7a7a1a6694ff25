"""`lab calibrate PROFILE --repeat N`: N runs, each on a fresh stack, into one calibration
folder, then the noise profile; without engines (up, run and down are replaced by recorders;
each run is a real recorded run resampled with a drift, as repeated runs differ)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.config import profile
from lab.errors import StepFailed
from lab.load import ab, calibrate, lifecycle, scenarios
from lab.results import folder as results
from tests.helpers.runs import QUIET, drifted
from tests.helpers.samples import fake_state


@pytest.fixture
def recorder(monkeypatch, tmp_path) -> list[str]:
    calls: list[str] = []
    rng = np.random.default_rng(5)

    def up(lab: profile.Profile, platform: str | None = None, **_):
        calls.append(f"up {lab.name} on {platform}")
        return None, fake_state()  # (the platform that ran up, its state)

    def run(lab: profile.Profile, current, names: list[str], base: Path, platform=None) -> Path:
        calls.append(f"run {' '.join(names) or 'all'}")
        folder = results.create(base, lab)
        shutil.rmtree(folder)
        return drifted(QUIET, folder, float(np.exp(rng.normal(0, 0.1))), rng)

    def down(**_) -> bool:
        calls.append("down")
        return True

    monkeypatch.setattr(lifecycle, "up", up)
    monkeypatch.setattr(lifecycle, "down", down)
    monkeypatch.setattr(scenarios, "run", run)
    return calls


def test_each_run_brings_a_fresh_stack_up_and_down(recorder, tmp_path) -> None:
    arm = ab.Arm("A", profile.load("cpu"), ())
    folder = calibrate.run(arm, 3, "local", [], tmp_path)
    assert recorder == ["up cpu on local", "run all", "down"] * 3
    assert folder.parent == tmp_path and folder.name.startswith("calibration-")
    assert len([p for p in folder.iterdir() if (p / "manifest.json").is_file()]) == 3


def test_the_stack_comes_down_when_a_run_fails(recorder, monkeypatch, tmp_path) -> None:
    def failing(*_):
        raise StepFailed("scenario(s) failed: throughput")

    monkeypatch.setattr(scenarios, "run", failing)
    with pytest.raises(StepFailed):
        calibrate.run(ab.Arm("A", profile.load("cpu"), ()), 3, "local", [], tmp_path)
    assert recorder == ["up cpu on local", "down"]


def test_the_cli_records_the_runs_then_their_noise_profile(recorder, tmp_path, capsys) -> None:
    args = ["calibrate", "cpu", "--repeat", "3", "--platform", "local", "--out", str(tmp_path)]
    assert main(args) == 0
    (folder,) = tmp_path.iterdir()
    document = json.loads((folder / "noise.json").read_text())
    assert document["profile_name"] == "cpu" and len(document["runs"]) == 3
    assert all(not Path(run).is_absolute() for run in document["runs"])  # inside the folder
    said = capsys.readouterr().out
    assert "run to run" in said and f"--noise {folder}" in said


def test_the_cli_refuses_a_missing_scenario_before_running(recorder, tmp_path, capsys) -> None:
    args = ["calibrate", "cpu", "--scenario", "soak", "--out", str(tmp_path)]
    assert main(args) == 2
    assert recorder == [] and not any(tmp_path.iterdir())
    assert "no scenario named 'soak'" in capsys.readouterr().err
