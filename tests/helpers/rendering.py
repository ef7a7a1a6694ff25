"""Tests whose subject is not a rendered page skip rendering it: a results folder's report.html
and compare's compare.html are mostly plots, which cost seconds each (compare's interval plots
above all: most of a compare's time). The tests that read a page, and one test of each kind of
input a page is drawn from, render theirs."""

from __future__ import annotations

import pytest

from lab.compare import page
from lab.results import report


def without_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenario runs write no report.html (rendered and read in test_gauges, test_capacity's
    search on the simulated engine, tests/results, and the resilience and web UI tests)."""
    monkeypatch.setattr(report, "write", lambda folder: folder / "report.html")


def without_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """compare writes an empty compare.html (rendered in test_compare for single runs, run sets
    and a side with nothing measured, and in test_noise for a noise profile)."""
    monkeypatch.setattr(page, "page", lambda result: "")
