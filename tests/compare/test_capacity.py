"""A capacity search's capacity_rps as a compared metric: one unit per search, its within-run
variance from the run's capacity interval, run-to-run noise from folders of runs and noise
profiles, n/a with its reason where a run has no capacity to compare. Runs are made-up results
folders (tests.helpers.runs.capacity_run) with known capacities."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from lab.cli import main
from lab.compare import capacity, comparison, outcomes, runsets
from lab.compare import run as compare_run
from lab.compare.comparison import Row
from lab.compare.outcomes import BETTER, NA, SAME, WORSE
from lab.compare.runsets import Unit
from tests.helpers.runs import CAPACITY_SLO, capacity_run

SEARCH = Unit("capacity", "capacity", "search")
SPREAD = (1.0, math.exp(0.05), math.exp(-0.05))  # three runs' drift: log sd 0.05 exactly


def runs(folder: Path, capacities: list[float], **changes: object) -> Path:
    """A folder of runs of one configuration, with these capacities."""
    for i, found in enumerate(capacities):
        capacity_run(folder / f"run{i}", found, **changes)
    return folder


def capacity_row(a: Path, b: Path, noise: str | None = None) -> Row:
    options = compare_run.options(["capacity_rps"], [], [], noise_path=noise)
    result = comparison.compare(runsets.load(a), runsets.load(b), options)
    (row,) = result.rows
    assert row.unit == SEARCH and row.metric.name == "capacity_rps"
    return row


def test_a_runs_figure_is_its_log_capacity_with_its_interval_as_a_uniform_variance() -> None:
    found = {"capacity_rps": 20.0, "client_limited": False,
             "interval": {"low_rps": 17.0, "high_rps": 22.0}}  # fmt: skip
    estimate = capacity.figure(found)
    assert not isinstance(estimate, str)
    assert estimate.value == 20 and estimate.y == pytest.approx(math.log(20))
    assert estimate.within == pytest.approx(math.log(22 / 17) ** 2 / 12)


def test_folders_whose_capacities_differ_by_a_known_factor_are_better_and_worse(tmp_path) -> None:
    """Known answer: each side's log capacities spread with variance 0.05² and every run's own
    interval is its bracket (×1.1); with three runs a side the pooled t-test has 4 degrees of
    freedom and se² = 0.05²·(1/3 + 1/3), the runs' own noise being no more than the sources'."""
    a = runs(tmp_path / "a", [10 * f for f in SPREAD])
    b = runs(tmp_path / "b", [15 * f for f in SPREAD])
    up = capacity_row(a, b)
    assert up.gated and up.metric.higher_is_better
    assert up.change is not None and up.change.b / up.change.a == pytest.approx(1.5)
    assert up.change.se == pytest.approx(0.05 * math.sqrt(2 / 3)) and up.change.df == 4
    assert up.verdict.word == BETTER and up.p_adjusted is not None and up.p_adjusted < 1e-3
    down = capacity_row(b, a)
    assert down.verdict.word == WORSE


def test_equal_capacities_are_no_significant_change(tmp_path) -> None:
    a = runs(tmp_path / "a", [10 * f for f in SPREAD])
    b = runs(tmp_path / "b", [10 * f for f in reversed(SPREAD)])
    row = capacity_row(a, b)
    assert row.change is not None and row.change.d == pytest.approx(0)
    assert row.verdict.word == SAME


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"capacity_rps": None, "bracket": {"pass_rps": 20, "fail_rps": None},
          "statement": "capacity at least 20 req/s: every rate tried met the SLO"},
         outcomes.NOT_BRACKETED),
        ({"capacity_rps": None, "client_limited": True, "capacity_at_least_rps": 18},
         outcomes.CLIENT_LIMITED),
        ({"interval": {"low_rps": 10, "high_rps": None}}, outcomes.INTERVAL_OPEN),
    ],
    ids=["unbracketed", "client-limited", "open-interval"],
)  # fmt: skip
def test_a_run_without_a_capacity_to_compare_is_na_with_its_reason(
    tmp_path, capsys, changes, reason
) -> None:
    """One side a single run, the other a folder in which one run of three has none: the whole
    folder is n/a too (a mean of the others would read low)."""
    single = capacity_run(tmp_path / "single", 10, **changes)
    row = capacity_row(runs(tmp_path / "a", [10, 11, 12]), single)
    assert (row.verdict.word, row.verdict.reason) == (NA, reason)
    folder = runs(tmp_path / "b", [10, 11])
    capacity_run(folder / "run2", 10, **changes)
    row = capacity_row(folder, capacity_run(tmp_path / "other", 10))
    assert (row.verdict.word, row.verdict.reason) == (NA, reason)
    # The gate on nothing measurable says so (exit 3), and the note names the run.
    out = tmp_path / "out"
    argv = ["compare", str(folder), str(tmp_path / "other"), "--metrics", "capacity_rps"]
    assert main([*argv, "--out", str(out), "--fail-on-regression"]) == outcomes.NOTHING_TO_GATE
    said = capsys.readouterr().out
    assert f"no capacity_rps in capacity ({reason})" in " ".join(said.split())


def test_capacities_under_different_slos_are_na(tmp_path) -> None:
    strict = CAPACITY_SLO | {"ttft_ms": 200.0}
    a = capacity_run(tmp_path / "a", 10)
    b = capacity_run(tmp_path / "b", 15, slo=strict)
    options = compare_run.options(["capacity_rps"], [], [])
    result = comparison.compare(runsets.load(a), runsets.load(b), options)
    (row,) = result.rows
    assert (row.verdict.word, row.verdict.reason) == (NA, outcomes.SLO_DIFFERS)
    assert any("searched under different SLOs" in note for note in result.notes)


def test_a_capacity_without_its_interval_is_refused_naming_the_file(tmp_path, capsys) -> None:
    a = capacity_run(tmp_path / "a", 10, interval={"low_rps": 10})
    argv = ["compare", str(a), str(a), "--metrics", "capacity_rps", "--out", str(tmp_path / "o")]
    assert main(argv) == outcomes.UNUSABLE
    said = capsys.readouterr().err
    assert "capacity/summary.json: capacity lacks interval.high_rps" in " ".join(said.split())
    assert not (tmp_path / "o").exists()


def test_every_output_shows_the_capacity_unit_like_a_level(tmp_path, capsys) -> None:
    a = runs(tmp_path / "a", [15 * f for f in SPREAD])
    b = runs(tmp_path / "b", [10 * f for f in SPREAD])
    out = tmp_path / "out"
    argv = ["compare", str(a), str(b), "--metrics", "capacity_rps,ttft_p50", "--out", str(out)]
    assert main([*argv, "--fail-on-regression"]) == outcomes.REGRESSION
    said = capsys.readouterr().out
    assert "capacity/search" in said and "capacity/rate4" in said
    assert "1 gated regression(s): capacity/search capacity_rps" in said
    with (out / "compare.csv").open(newline="") as file:
        found = {(r["level"], r["metric"]): r for r in csv.DictReader(file)}
    row = found["search", "capacity_rps"]
    assert row["scenario"] == "capacity" and row["better_when"] == "higher"
    assert row["verdict"] == WORSE and row["gated"] == "True" and row["unit"] == "req/s"
    assert float(row["change_pct"]) == pytest.approx(100 * (10 / 15 - 1), rel=1e-3)
    assert row["test"] == "t on log values" and row["noise"] == "A's 3 runs + B's 3 runs (df 4)"
    assert ("rate4", "capacity_rps") not in found  # a whole search's metric, not a step's
    assert "## capacity/search" in (out / "compare.md").read_text()
    assert "capacity (req/s)" in (out / "compare.html").read_text()


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, Path]:
    """`calibrate --from` three runs whose capacities drift with log sd 0.05."""
    tmp = tmp_path_factory.mktemp("calibrated")
    runs(tmp / "runs", [10 * f for f in SPREAD])
    assert main(["calibrate", "--from", str(tmp / "runs"), "--out", str(tmp / "results")]) == 0
    (folder,) = (tmp / "results").iterdir()
    return tmp, folder


def test_the_noise_profile_records_the_capacitys_run_to_run_spread(calibrated) -> None:
    _, folder = calibrated
    document = json.loads((folder / "noise.json").read_text())
    (entry,) = [e for e in document["entries"] if e["metric"] == "capacity_rps"]
    assert (entry["scenario"], entry["level"], entry["scale"]) == ("capacity", "search", "log")
    assert entry["runs"] == 3 and entry["df"] == 2 and entry["sd"] == pytest.approx(0.05)
    assert entry["within_sd"] == pytest.approx(math.log(1.1) / math.sqrt(12))
    assert entry["between_sd"] == pytest.approx(math.sqrt(0.05**2 - math.log(1.1) ** 2 / 12))


def test_single_runs_take_the_capacitys_noise_from_the_profile(calibrated) -> None:
    """One run against one with 1.5 times its capacity: with the profile, se² = 2·0.05² on 2
    degrees of freedom, better; without it, within ×10 the change is inconclusive."""
    tmp, folder = calibrated
    a, b = capacity_run(tmp / "one", 10), capacity_run(tmp / "more", 15)
    row = capacity_row(a, b, noise=str(folder))
    assert row.change is not None and row.change.noise == "noise profile (3 runs) (df 2)"
    assert row.change.se == pytest.approx(0.05 * math.sqrt(2)) and row.verdict.word == BETTER
    alone = capacity_row(a, b)
    assert str(alone.verdict) == f"inconclusive: {outcomes.NOISE_UNKNOWN}"
