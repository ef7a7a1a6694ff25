"""`lab ab`: the interleaving, the folder it leaves, and what it refuses, without engines (the
lifecycle and the scenario runner are replaced by recorders that copy real recorded runs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lab.cli import main
from lab.compare import runsets
from lab.config import profile
from lab.errors import ConfigError, StepFailed
from lab.load import ab, lifecycle, scenarios
from lab.results import folder as results
from tests.helpers.samples import DATA, fake_state

RECORDED = {
    name: sorted((DATA / "compare" / name).iterdir()) for name in ("roundrobin", "prefixaware")
}


@pytest.fixture
def recorder(monkeypatch) -> list[str]:
    """Replace up, run and down; each run copies a recorded run of the profile's routing."""
    calls: list[str] = []
    used = {name: 0 for name in RECORDED}

    def up(lab: profile.Profile, platform: str | None = None, **_):
        calls.append(f"up {lab.router.routing} on {platform}")
        return None, fake_state()  # (the platform that ran up, its state)

    def run(lab: profile.Profile, current, names: list[str], base: Path, platform=None) -> Path:
        calls.append(f"run {lab.router.routing} -> {base.name}")
        runs = RECORDED[lab.router.routing]
        source = runs[used[lab.router.routing] % len(runs)]
        used[lab.router.routing] += 1
        folder = results.create(base, lab)
        shutil.rmtree(folder)
        shutil.copytree(source, folder)
        return folder

    def down(**_) -> bool:
        calls.append("down")
        return True

    monkeypatch.setattr(lifecycle, "up", up)
    monkeypatch.setattr(lifecycle, "down", down)
    monkeypatch.setattr(scenarios, "run", run)
    return calls


def arms(sets_a=("router.routing=roundrobin",), sets_b=("router.routing=prefixaware",)):
    return [
        ab.Arm("A", profile.load("cpu", list(sets_a)), tuple(sets_a)),
        ab.Arm("B", profile.load("cpu", list(sets_b)), tuple(sets_b)),
    ]


def test_each_repetition_swaps_which_arm_goes_first() -> None:
    assert ab.order(3) == ["A", "B", "B", "A", "A", "B"]


def test_runs_alternate_each_on_a_fresh_stack_into_a_and_b(recorder, tmp_path) -> None:
    folder = ab.run(arms(), 2, "local", [], tmp_path)
    a = ["up roundrobin on local", "run roundrobin -> A", "down"]
    b = ["up prefixaware on local", "run prefixaware -> B", "down"]
    assert recorder == a + b + b + a
    assert folder.parent == tmp_path and folder.name.startswith("ab-")
    plan = json.loads((folder / "ab.json").read_text())
    assert [r["arm"] for r in plan["runs"]] == ["A", "B", "B", "A"]
    assert plan["arms"]["B"]["sets"] == ["router.routing=prefixaware"]
    for label in ab.SIDES:
        side = runsets.load(folder / label)
        assert len(side.runs) == 2  # a folder of repeated runs, as compare reads it


def test_the_stack_comes_down_when_a_run_fails(recorder, monkeypatch, tmp_path) -> None:
    def failing(*_):
        raise StepFailed("scenario(s) failed: routing")

    monkeypatch.setattr(scenarios, "run", failing)
    with pytest.raises(StepFailed):
        ab.run(arms(), 2, "local", [], tmp_path)
    assert recorder == ["up roundrobin on local", "down"]


@pytest.mark.parametrize(
    ("repeat", "names", "message"),
    [(0, [], "--repeat 0: must be at least 1"), (1, ["soak"], "no scenario named 'soak'")],
)
def test_what_cannot_run_is_refused_before_anything_starts(
    recorder, tmp_path, repeat, names, message
) -> None:
    with pytest.raises(ConfigError, match=message):
        ab.run(arms(), repeat, "local", names, tmp_path)
    assert recorder == [] and not any(tmp_path.iterdir())


def test_both_arms_must_run_on_one_platform(recorder, tmp_path) -> None:
    two = arms(("platform=local",), ("platform=compose",))
    with pytest.raises(ConfigError, match="A would run on local and B on compose"):
        ab.run(two, 1, None, [], tmp_path)
    assert ab.platform_for(two, "local") == "local"  # an explicit platform settles it


def test_the_cli_runs_then_compares_with_runs_as_units(recorder, tmp_path, capsys) -> None:
    both = ["cpu", "cpu", "--repeat", "2", "--platform", "local", "--out", str(tmp_path)]
    sets = ["--set-a", "router.routing=roundrobin", "--set-b", "router.routing=prefixaware"]
    gate = ["--metrics", "prefix_cache_hit_rate,ttft", "--fail-on-regression"]
    code = main(["ab", *both, *sets, *gate])
    assert code == 0
    (folder,) = tmp_path.iterdir()
    report = (folder / "compare" / "compare.md").read_text()
    assert "| runs: 2 vs 2 |" in report and "A's 2 runs + B's 2 runs (df 2)" in report
    assert "2 run(s), profile cpu, routing roundrobin" in report


def test_the_cli_judges_each_turn_as_a_pair_when_asked(recorder, tmp_path) -> None:
    both = ["cpu", "cpu", "--repeat", "2", "--platform", "local", "--out", str(tmp_path)]
    sets = ["--set-a", "router.routing=roundrobin", "--set-b", "router.routing=prefixaware"]
    assert main(["ab", *both, *sets, "--paired", "--metrics", "ttft"]) == 0
    (folder,) = tmp_path.iterdir()
    report = (folder / "compare" / "compare.md").read_text()
    assert "in the order they started, 2 pairs" in report
    assert "turns of A and B in start order" in report


def test_the_cli_refuses_bad_gate_options_before_running(recorder, tmp_path, capsys) -> None:
    args = ["ab", "cpu", "cpu", "--out", str(tmp_path), "--metrics", "latency"]
    assert main(args) == 2
    assert recorder == [] and not any(tmp_path.iterdir())
    assert "unknown metric latency" in capsys.readouterr().err
