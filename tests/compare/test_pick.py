"""`nox -s compare` with no runs named (`python -m lab compare`): which two runs it picks from
results/, the baseline a user sets, and the one-line refusals. Results folders are copies of
the recorded runs in tests/data/compare, their manifests changed where a case needs it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.compare import pick
from lab.errors import ConfigError
from lab.results import catalog
from tests.helpers.lab import lab_main
from tests.helpers.rendering import without_page
from tests.helpers.runs import slow_ttft
from tests.helpers.samples import DATA

RR1, RR2 = sorted((DATA / "compare" / "roundrobin").iterdir())  # 06:01:56, 06:03:34
PA1, PA2 = sorted((DATA / "compare" / "prefixaware").iterdir())  # 06:07:31, 06:08:54


def copy_run(source: Path, results: Path, name: str | None = None, **changes) -> Path:
    """A copy of a recorded run in `results`, its manifest changed by `changes`."""
    folder = results / (name or source.name)
    shutil.copytree(source, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def lab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m lab ARGS` in `cwd`, as `nox -s compare` runs it from the checkout (in this
    process: the entry point is tests/test_cli.py's; here, which runs are picked)."""
    return lab_main(*args, state_dir=cwd / ".lab", cwd=cwd)


@pytest.fixture(autouse=True)
def no_page(monkeypatch) -> None:
    """Which runs are compared is in compare.md and on the terminal; compare.html has its own
    tests."""
    without_page(monkeypatch)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """results/ holding the four recorded cpu runs."""
    base = tmp_path / "results"
    for run in (RR1, RR2, PA1, PA2):
        copy_run(run, base)
    return base


def comparison(base: Path) -> str:
    (folder,) = base.glob("compare-*")
    return (folder / "compare.md").read_text().splitlines()[0]


def test_with_no_runs_named_the_two_newest_are_compared_and_the_choice_said(results) -> None:
    done = lab("compare", "--metrics", "ttft", cwd=results.parent)  # one family: quicker
    assert done.returncode == 0, done.stderr
    assert f"🔎 B = results/{PA2.name}: the newest completed run in results (profile cpu" in (
        done.stdout
    )
    assert f"🔎 A = results/{PA1.name}: the previous completed run of profile cpu" in done.stdout
    assert comparison(results) == f"# Comparison: {PA1.name} (A) → {PA2.name} (B)"


def test_with_a_baseline_set_the_newest_is_compared_against_it(results) -> None:
    done = lab("baseline", "set", f"results/{RR1.name}", cwd=results.parent)
    assert done.returncode == 0, done.stderr
    assert (results / "baseline.txt").read_text() == f"{RR1.name}\n"  # named, not copied
    assert lab("baseline", "show", cwd=results.parent).stdout.strip().endswith(RR1.name)
    done = lab("compare", "--metrics", "ttft", cwd=results.parent)
    assert done.returncode == 0, done.stderr
    assert f"🔎 A = results/{RR1.name}: the baseline set in results/baseline.txt" in done.stdout
    assert comparison(results) == f"# Comparison: {RR1.name} (A) → {PA2.name} (B)"
    assert lab("baseline", "clear", cwd=results.parent).returncode == 0
    assert not (results / "baseline.txt").exists()


def test_a_single_run_is_refused_with_exit_2_and_one_line(tmp_path) -> None:
    copy_run(RR1, tmp_path / "results")
    done = lab("compare", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: results: {RR1.name} is the only completed run; run the lab again, set a "
        "baseline (python -m lab baseline set RUN) or name two runs (nox -s compare -- RUN_A "
        "RUN_B)"
    ]
    assert not list((tmp_path / "results").glob("compare-*"))


def test_no_results_at_all_is_refused(tmp_path) -> None:
    done = lab("compare", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: results: no completed run to compare;")


def test_the_gate_with_no_runs_named_is_newest_against_baseline(tmp_path) -> None:
    """The newest run, the baseline with every TTFT twelve times as long (beyond any drift
    between unchanged single runs), fails the gate against the baseline."""
    base = tmp_path / "results"
    copy_run(RR2, base)
    slow_ttft(copy_run(RR2, base, "20261128T000000Z-cpu", started="2026-11-28T00:00:00+00:00"), 12)
    assert lab("baseline", "set", str(base / RR2.name), cwd=tmp_path).returncode == 0
    done = lab("compare", "--metrics", "ttft", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    gated = lab("compare", "--metrics", "ttft", "--fail-on-regression", cwd=tmp_path)
    assert gated.returncode == 1, gated.stderr
    assert "regression(s): " in gated.stdout


def test_newest_is_by_start_time_among_completed_runs_only(tmp_path) -> None:
    base = tmp_path / "results"
    copy_run(RR1, base)
    # Named as the oldest, started last: the newest.
    late = copy_run(RR2, base, "00000000T000000Z-cpu", started="2026-11-28T00:00:00+00:00")
    for status in ("interrupted", "failed", "running"):
        copy_run(PA1, base, f"{status}-cpu", status=status, started="2026-12-01T00:00:00+00:00")
    for name in ("ab-20261201T000000Z", "compare-x", "calibration-y"):
        copy_run(PA2, base, name, started="2026-12-02T00:00:00+00:00")
    (base / "broken").mkdir()
    (base / "broken" / "manifest.json").write_text("{")
    assert [run.folder for run in catalog.completed_runs(base)] == [base / RR1.name, late]
    choice = pick.pick(base)
    assert (choice.a, choice.b) == (base / RR1.name, late)


def test_previous_run_is_of_the_same_profile_with_a_level_in_common(tmp_path) -> None:
    base = tmp_path / "results"
    copy_run(RR1, base)
    copy_run(RR2, base, profile_name="cpu-quick")
    with pytest.raises(ConfigError, match=f"no completed run before {RR2.name} is of profile "):
        pick.pick(base)
    copy_run(PA1, base, profile_name="cpu-quick", scenarios=[])  # no level in common
    with pytest.raises(ConfigError, match="cpu-quick with a scenario level in common"):
        pick.pick(base)
    copy_run(PA2, base, profile_name="cpu-quick")
    assert pick.pick(base).a == base / RR2.name


def test_a_baseline_that_is_the_newest_or_gone_is_refused(results, tmp_path) -> None:
    catalog.save_baseline(results, results / PA2.name)
    with pytest.raises(ConfigError, match="is the newest completed run and the baseline"):
        pick.pick(results)
    repeated = tmp_path / "elsewhere" / "A"
    copy_run(RR1, repeated)
    copy_run(RR2, repeated)
    catalog.save_baseline(results, repeated)  # a folder of runs, outside results/
    assert (results / "baseline.txt").read_text() == f"{repeated}\n"
    assert pick.pick(results).a == repeated
    shutil.rmtree(repeated)
    with pytest.raises(ConfigError, match=r"the baseline .* is gone"):
        pick.pick(results)


def test_baseline_set_refuses_what_compare_cannot_read(tmp_path) -> None:
    (tmp_path / "results" / "not-a-run").mkdir(parents=True)
    done = lab("baseline", "set", "results/not-a-run", cwd=tmp_path)
    assert done.returncode == 2
    assert "not a results folder" in done.stderr
    assert not (tmp_path / "results" / "baseline.txt").exists()


def test_one_run_named_is_refused(results) -> None:
    with pytest.raises(ConfigError, match="compare takes two runs, or none to pick them; got 1"):
        pick.runs([str(results / RR1.name)], results)


def test_two_runs_named_are_compared_as_named(results) -> None:
    assert pick.runs(["x", "y"], results) == (Path("x"), Path("y"))
