"""Values outside their physical range, where compare reads a results folder: the metrics they
feed are n/a at that level, with the file and row as the reason; never counted, never a
traceback (lab.compare.ranges, lab.compare.capacity.implausible)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.compare import capacity, comparison, outcomes, runsets
from lab.compare import run as compare_run
from tests.helpers.runs import QUIET, capacity_run, copy, edit_csv, edit_requests

SEARCH = runsets.Unit("capacity", "capacity", "search")


def verdicts(a: Path, b: Path, metrics: list[str]) -> dict[tuple[str, str], str]:
    """(level, metric) -> the verdict, as text, of comparing a with b."""
    options = compare_run.options(metrics, [], [])
    result = comparison.compare(runsets.load(a), runsets.load(b), options)
    return {(row.unit.level, row.metric.name): str(row.verdict) for row in result.rows}


def first_row(column: str, value: str):
    """An edit of a run's requests: the first row's `column` set to `value`."""

    def change(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[0][column] = value
        return rows

    return change


@pytest.mark.parametrize(
    ("column", "value", "metric", "said"),
    [
        ("ttft_ms", "-5", "ttft_p50", "ttft_ms -5 is below 0"),
        ("e2e_ms", "-1", "requests_per_s", "e2e_ms -1 is below 0"),
        ("start_time", "4102444800", "requests_per_s", "the request's time, 4102444800.000"),
        ("output_tokens", "-3", "output_tokens_per_s", "output_tokens -3 is below 0"),
    ],
)  # fmt: skip
def test_a_value_out_of_range_makes_its_metric_na_naming_file_and_row(
    tmp_path, column, value, metric, said
) -> None:
    bad = copy(QUIET, tmp_path / "bad")
    edit_requests(bad, first_row(column, value))
    found = verdicts(QUIET, bad, [metric, "error_rate"])
    level = next(level for level, name in found if name == metric)
    assert found[(level, metric)].startswith(f"{outcomes.NA} (out of range: bad/")
    assert "requests.csv row 1: " + said in found[(level, metric)]
    # What the value does not feed is still judged.
    assert not found[(level, "error_rate")].startswith(outcomes.NA)


def test_hits_over_queries_make_the_hit_rate_na(tmp_path) -> None:
    bad = copy(QUIET, tmp_path / "bad")
    for path in bad.glob("*/engines.csv"):
        edit_csv(path, lambda row: row | {"prefix_cache_hits": "999999"})
    edit_requests(bad, lambda rows: [r | {"cached_tokens": ""} for r in rows])  # counters, then
    found = verdicts(QUIET, bad, ["prefix_cache_hit_rate"])
    assert found, "no level compared"
    assert all("more than prefix_cache_queries" in verdict for verdict in found.values()), found


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"capacity_rps": 0}, "capacity_rps 0 is not a rate above 0"),
        ({"capacity_rps": -4.0}, "capacity_rps -4.0 is not a rate above 0"),
        ({"capacity_rps": "fast"}, "capacity_rps 'fast' is not a rate above 0"),
        ({"capacity_rps": True}, "capacity_rps True is not a rate above 0"),
        ({"interval": {"low_rps": 0, "high_rps": 11}}, "interval.low_rps 0 is not a rate above 0"),
        ({"interval": {"low_rps": 12, "high_rps": 11}}, "10 is outside its interval [12, 11]"),
        ({"interval": {"low_rps": 5, "high_rps": 8}}, "10 is outside its interval [5, 8]"),
    ],
)  # fmt: skip
def test_an_impossible_capacity_is_na_with_why(tmp_path, changes, said) -> None:
    good = capacity_run(tmp_path / "good", 10)
    bad = capacity_run(tmp_path / "bad", 10, **changes)
    options = compare_run.options(["capacity_rps"], [], [])
    result = comparison.compare(runsets.load(good), runsets.load(bad), options)
    (row,) = [row for row in result.rows if row.unit == SEARCH]
    assert str(row.verdict) == f"{outcomes.NA} (summary.json: capacity: {said})"
    assert capacity.figure(capacity.result(runsets.load_run(bad), "capacity")) == (
        f"summary.json: capacity: {said}"
    )
