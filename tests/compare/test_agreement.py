"""Folders of runs must agree: runs of different profiles, settings or lab versions in one folder
are compared with a warning naming each difference (refused with --strict: tests/test_bad_input.py),
and the arms of side-by-side runs given B first are refused with the right order named."""

from __future__ import annotations

import pytest

from lab.compare import runsets
from lab.errors import ConfigError
from tests.helpers.lab import lab_main
from tests.helpers.rendering import without_page
from tests.helpers.runs import PA1, RR1, RR2, copy, edit_manifest, keep_only


def test_a_folder_of_runs_that_disagree_is_compared_with_a_warning_per_run(
    tmp_path, monkeypatch
) -> None:
    without_page(monkeypatch)
    runs = tmp_path / "runs"
    first = keep_only(copy(RR1, runs / "1"), "routing")
    keep_only(copy(RR2, runs / "2"), "routing")
    third = keep_only(copy(PA1, runs / "3"), "routing")  # prefixaware
    edit_manifest(third, lambda m: m.update(lab_version="0.0.9", profile_name="cpu-pa"))
    out = tmp_path / "o"
    done = lab_main(
        "compare", str(runs), str(first), "--metrics", "ttft_p50", "--out", str(out),
        state_dir=tmp_path / "state",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (warning,) = done.stderr.splitlines()  # run 2 agrees with run 1: no line for it
    assert warning == (
        f"warning: {third}: profile cpu-pa (not cpu); settings router.routing differ; lab version "
        f"0.0.9 (not 0.1.0), unlike {first}: compared as runs of one configuration all the same "
        "(--strict refuses)"
    )
    assert (out / "compare.md").is_file()


def test_runs_of_one_configuration_agree(tmp_path) -> None:
    runs = tmp_path / "runs"
    copy(RR1, runs / "1")
    copy(RR2, runs / "2")
    assert runsets.disagreements(runsets.load(runs)) == []


def test_every_differing_setting_is_named_up_to_a_count(tmp_path) -> None:
    runs = tmp_path / "runs"
    copy(RR1, runs / "1")
    second = copy(RR2, runs / "2")

    def change(manifest: dict) -> None:
        engine = manifest["profile"]["engine"]
        engine.update(replicas=3, cpu=2, memory="4Gi", dtype="float16", max_model_len=512)
        engine.update(kv_cache_gb=2, extra_args=["--x"])
        manifest["profile"]["scenarios"][0]["users"] += 1

    edit_manifest(second, change)
    (line,) = runsets.disagreements(runsets.load(runs))
    assert "settings engine.replicas, engine.cpu, engine.memory, engine.max_model_len, " in line
    assert "engine.dtype and 3 more differ" in line


def side_by_side(run, arm: str) -> None:
    entry = {"design": "concurrent", "arm": arm, "mixed": "mixed/0", "first": "A"}
    edit_manifest(run, lambda manifest: manifest.update(ab=entry))


def test_side_by_side_arms_are_taken_in_their_order_only(tmp_path) -> None:
    a, b = copy(RR1, tmp_path / "A" / "r"), copy(RR2, tmp_path / "B" / "r")
    side_by_side(a, "A")
    side_by_side(b, "B")
    arm_a, arm_b = runsets.load(tmp_path / "A"), runsets.load(tmp_path / "B")
    runsets.check_order(arm_a, arm_b)  # the right order passes
    with pytest.raises(ConfigError, match=r"A comes first, as in: compare .*/A .*/B$"):
        runsets.check_order(arm_b, arm_a)
    runsets.check_order(arm_b, runsets.load(RR1))  # not the two arms of one design: unpaired
