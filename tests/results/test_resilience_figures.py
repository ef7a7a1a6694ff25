"""Resilience figures from samples and recorded events, without a stack: which failures an
event caused, by the engine they were on and when they broke."""

from __future__ import annotations

import pytest

from lab.results import resilience_figures
from lab.results.summary import Sample
from lab.stack.endpoints import Engine


def sample(start: float, end: float, engine: str, ok: bool = True, error: str = "") -> Sample:
    return Sample(
        start=start, level="scale", session="", round="", engine=engine, prompt_tokens=8,
        output_tokens=8, cached_tokens=None, ttft_ms=10.0 if ok else None, tpot_ms=None,
        e2e_ms=(end - start) * 1000, itl_ms=(), ok=ok, error=error, phase="run",
    )  # fmt: skip


SCALE_EVENTS = {"scale-up": 10.0, "scale-up done": 12.0, "scale-down": 30.0,
                "scale-down done": 33.0}  # fmt: skip
DRAINED = [{"engine": "engine-2", "began": 30.1, "seconds": 2.5, "complete": True}]


def test_a_failure_belongs_to_the_scale_down_by_when_it_broke_and_on_which_engine() -> None:
    cut = "ProtocolError: Connection broken: IncompleteRead"
    samples = [
        sample(1, 2, "engine-0"),
        sample(13, 14, "engine-2"),  # the new engine serves
        sample(27.7, 31.0, "engine-2", ok=False, error=cut),  # sent before, broken by it
        sample(29.0, 32.0, "engine-2"),  # open at the removal, finished during the drain
        sample(31.0, 31.5, "engine-0", ok=False, error="HTTP 500"),  # another engine's failure
        sample(20.0, 20.5, "engine-2", ok=False, error="HTTP 500"),  # before the scale-down
    ]
    figures = resilience_figures.scale_figures(samples, SCALE_EVENTS, DRAINED, "engine-2")
    assert figures["failed_during_scale_down"] == 1  # counted by start time, it was 0
    assert figures["scale_down_errors"] == {cut: 1}
    assert figures["removed_engine"] == "engine-2"
    assert figures["in_flight_at_scale_down"] == 2
    assert figures["finished_after_scale_down"] == 1
    assert figures["drain_s"] == 2.5 and figures["drain_complete"] is True
    assert figures["failed_total"] == 3


def test_the_new_engine_is_the_one_added_even_when_an_old_one_had_not_served_yet() -> None:
    # One request before the scale-up: engine-1 serves its first only after it (round-robin).
    samples = [sample(1, 2, "engine-0"), sample(11, 12, "engine-1"), sample(14, 15, "engine-2"),
               sample(16, 17, "engine-0"), sample(18, 19, "engine-1")]  # fmt: skip
    figures = resilience_figures.scale_figures(samples, SCALE_EVENTS, DRAINED, "engine-2")
    assert figures["new_engine"] == "engine-2"
    assert figures["time_to_first_request_s"] == pytest.approx(4.0)
    assert figures["new_engine_share"] == pytest.approx(1 / 3)


def test_a_failure_belongs_to_the_kill_by_when_it_broke_and_on_which_engine(tmp_path) -> None:
    events = {"kill": 10.0, "restart": 20.0}
    samples = [
        sample(8.0, 10.5, "engine-1", ok=False, error="IncompleteRead"),  # sent before the kill
        sample(11.0, 11.2, "", ok=False, error="HTTP 502"),  # the router's, no engine
        sample(12.0, 12.1, "engine-0", ok=False, error="HTTP 429"),  # another engine's
        sample(5.0, 6.0, "engine-1", ok=False, error="early"),  # before the kill
        sample(21.0, 21.5, "engine-1"),
    ]
    killed = Engine("engine-1", "http://127.0.0.1:8001")
    figures = resilience_figures.failover_figures(samples, events, killed, tmp_path / "router.csv")
    assert figures["failed_after_kill"] == 2
    assert figures["failover_time_s"] == pytest.approx(1.2)
    assert figures["recovery_time_s"] == pytest.approx(1.0)
    assert figures["failed_total"] == 4
