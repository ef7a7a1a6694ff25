"""compare and the report say how each side's requests failed, by class; a folder written
before requests.csv had a failure column counts its failures as unclassified."""

from __future__ import annotations

from lab.compare import failures
from lab.compare.metrics import LevelData
from lab.compare.runsets import Unit
from lab.results import report, summary

UNIT = Unit("throughput", "throughput", "c4")


def sample(ok: bool, failure: str = "", phase: str = "run") -> summary.Sample:
    return summary.Sample(
        start=0.0, level="c4", session="", round="", engine="engine-0", prompt_tokens=1,
        output_tokens=1, cached_tokens=None, ttft_ms=None, tpot_ms=None, e2e_ms=1.0, itl_ms=(),
        ok=ok, error="" if ok else "x", phase=phase, failure=failure,
    )  # fmt: skip


def test_a_level_with_failures_gets_a_note_of_both_sides_by_class() -> None:
    a = [LevelData([sample(True), sample(False, "stream_cut")]), LevelData([sample(False, "")])]
    b = [LevelData([sample(True), sample(False, "timeout_stall", phase="drain")])]
    assert failures.note(UNIT, a, b) == [
        "throughput/c4: failed requests by class: A stream_cut 1, unclassified 1; B none"
    ]


def test_a_level_without_failures_gets_no_note() -> None:
    assert failures.note(UNIT, [LevelData([sample(True)])], [LevelData([sample(True)])]) == []


def test_the_report_lists_each_levels_failures_by_class() -> None:
    shown = report._failures(
        {"c1": {"failures": {}}, "c4": {"failures": {"http_500": 2, "<b>": 1}}, "old": {}}
    )
    assert shown == "<p class='bad'>c4: failed requests by class: &lt;b&gt; 1, http_500 2</p>"
