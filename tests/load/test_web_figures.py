"""The web UI's live figures: samples read as requests.csv grows, shown as summary.json has them."""

from __future__ import annotations

import csv

import pytest

from lab.config.slo import Slo
from lab.inproc.samples import SAMPLE_COLUMNS
from lab.load import web_figures
from lab.results import summary
from lab.results.manifest import Manifest
from tests.helpers.samples import row


def append(path, rows) -> None:
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=SAMPLE_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def request(start: float, ttft: float, e2e: float, engine: str = "engine-0", **fields) -> dict:
    return row(start_time=start, ttft_ms=ttft, tpot_ms=2.0, e2e_ms=e2e, engine=engine, **fields)


def test_the_tail_reads_rows_as_they_are_appended(tmp_path) -> None:
    path = tmp_path / "requests.csv"
    tail = web_figures.Tail(path)
    assert tail.read() == []  # not written yet
    append(path, [request(100.0, 10, 20), request(100.5, 11, 21)])
    assert [s.ttft_ms for s in tail.read()] == [10, 11]
    append(path, [request(101.0, 12, 22, error="HTTP 500: two\nlines", status="error")])
    read = tail.read()
    assert [s.ttft_ms for s in read] == [10, 11, 12] and not read[-1].ok
    assert read == summary.read_samples(path)  # as the whole file reads at the end
    tail.close()


def test_rows_show_what_summary_json_keeps(tmp_path) -> None:
    samples = [
        request(100.0, 10.0, 20.0, session="u1"),
        request(100.2, 30.2, 40.0, engine="engine-1", session="u1"),
        request(100.4, 50.0, 60.0, phase="drain"),
    ]
    engines = {"engine-0": {"prefix_cache_queries": 300.0, "prefix_cache_hits": 100.0}}
    figures = summary.summarize([summary.from_row(s) for s in samples], engines)
    shown = dict(web_figures.figure_rows(figures))
    assert shown["requests"] == "3"  # Locust counts the drained request too
    assert shown["completed"] == "2" and shown["failed"] == "0"
    assert shown["TTFT p50 (ms)"] == f"{figures['p50_ttft_ms']:.1f}" == "20.1"
    assert shown["E2E p99 (ms)"] == f"{figures['p99_e2e_ms']:.1f}"
    assert shown["prefix-cache hit rate"] == "33.3%"
    assert shown["session stickiness"] == "50.0%"
    assert shown["requests on engine-0"] == "1" and shown["requests on engine-1"] == "1"
    assert shown["output tokens/s"] == f"{figures['output_tokens_per_s']:.1f}"


def test_the_slo_judgement_shows_as_summary_json_has_it() -> None:
    judged = [request(100.0, 10.0, 20.0, slo_ok="1"), request(100.5, 900.0, 950.0, slo_ok="0")]
    figures = summary.summarize([summary.from_row(s) for s in judged])
    figures["slo_met"] = False
    shown = dict(web_figures.figure_rows(figures))
    assert shown["SLO attainment"] == "50.0%" and shown["SLO met"] == "no"
    assert shown["goodput (req/s)"] == f"{figures['goodput_rps']:.2f}"
    plain = summary.summarize([summary.from_row(request(100.0, 10.0, 20.0))])
    unjudged = dict(web_figures.figure_rows(plain))
    assert unjudged["SLO attainment"] == unjudged["SLO met"] == "-"


def test_the_slo_is_said_in_a_line() -> None:
    slo = Slo(ttft_ms=500, tpot_ms=50, e2e_ms=None, attainment=0.9, max_error_rate=0.01)
    assert web_figures.slo_text(slo) == (
        "TTFT <= 500 ms, TPOT <= 50 ms for 90% of requests, at most 1% failed"
    )
    assert web_figures.slo_text(None).startswith("none")


def test_a_user_is_active_with_a_request_in_flight_or_a_recent_one() -> None:
    window = web_figures.WINDOW_S
    activity = [
        (True, 0.0),  # in flight for longer than the window: still at work
        (False, 1000.0 - window),  # its last request ended just within the window
        (False, 1000.0 - window - 0.1),  # idle: a conversation over, say
        (False, 0.0),  # never sent a request
    ]
    assert web_figures.active_users(activity, now=1000.0) == 2
    assert web_figures.active_users([], now=1000.0) == 0


def test_figures_not_measured_show_a_dash() -> None:
    shown = dict(web_figures.figure_rows(summary.summarize([])))
    assert shown["requests"] == "0"
    assert shown["TTFT p50 (ms)"] == shown["prefix-cache hit rate"] == "-"


def test_a_chart_point_summarizes_the_last_window(tmp_path) -> None:
    samples = [summary.from_row(request(t, ttft, 10.0)) for t, ttft in
               [(100.0, 999.0), (115.0, 10.0), (116.0, 20.0), (119.0, 30.0)]]  # fmt: skip
    point = web_figures.point(samples, began=95.0, now=120.0, users=(3, 2), hit_rate=0.25)
    assert point["t"] == 25.0 and (point["users"], point["active_users"]) == (3, 2)
    assert point["ttft_p50"] == 20.0  # the first request ended 20 s ago: out of the window
    assert point["output_tokens_per_s"] == pytest.approx(3 * 4 / web_figures.WINDOW_S)
    assert point["prefix_cache_hit_rate"] == 25.0
    empty = web_figures.point([], began=95.0, now=96.0, users=(0, 0), hit_rate=None)
    assert empty["ttft_p50"] is None and empty["prefix_cache_hit_rate"] is None


def test_the_stack_is_named_from_the_manifest() -> None:
    manifest = Manifest(
        schema_version=1, lab_version="0", profile_name="cpu", profile_source="cpu.yaml",
        profile={}, helm_values=None, platform="local", versions={},
        endpoints={"router": "http://r", "engines": ["http://a", "http://b"],
                   "routing": "session"},
    )  # fmt: skip
    assert web_figures.stack_line(manifest) == (
        "profile cpu on local: session routing at http://r over 2 engines (http://a, http://b)"
    )
    assert ("engines", "http://a, http://b") in web_figures.stack_rows(manifest)
