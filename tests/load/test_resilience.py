"""Event timing of the resilience scenarios, without a stack (the stack tests are in
test_resilience_stack.py)."""

from __future__ import annotations

import time

import pytest

from lab.load import resilience
from lab.results.summary import Sample
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.state import State


def test_a_late_event_keeps_the_planned_spacing_before_the_next(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    nowhere = Endpoints("http://127.0.0.1:9", (), "m", "roundrobin", "x-user-id")
    current = State("local", {}, "test", endpoints=nowhere)
    calls: list[tuple[str, float]] = []

    def slow() -> str:  # an engine that takes longer to load than the plan allowed
        calls.append(("up", time.time()))
        time.sleep(1.5)
        return "up"

    def quick() -> str:
        calls.append(("down", time.time()))
        return "down"

    began = time.time()
    events = [resilience.Event(0, "scale-up", slow), resilience.Event(1, "scale-down", quick)]
    resilience.inject(events, began, tmp_path, current)
    (_, up), (_, down) = calls
    assert up - began < 0.5
    assert down - (up + 1.5) >= 1.0  # one planned second after the late event ended, not at 1 s
    recorded = [name for _, name, _ in resilience.read_events(tmp_path / "events.csv")]
    assert recorded == ["scale-up", "scale-up done", "scale-down", "scale-down done"]


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
    figures = resilience.scale_figures(samples, SCALE_EVENTS, DRAINED)
    assert figures["failed_during_scale_down"] == 1  # counted by start time, it was 0
    assert figures["scale_down_errors"] == {cut: 1}
    assert figures["removed_engine"] == "engine-2"
    assert figures["in_flight_at_scale_down"] == 2
    assert figures["finished_after_scale_down"] == 1
    assert figures["drain_s"] == 2.5 and figures["drain_complete"] is True
    assert figures["failed_total"] == 3


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
    figures = resilience.failover_figures(samples, events, killed, tmp_path / "router.csv")
    assert figures["failed_after_kill"] == 2
    assert figures["failover_time_s"] == pytest.approx(1.2)
    assert figures["recovery_time_s"] == pytest.approx(1.0)
    assert figures["failed_total"] == 4


def test_drains_are_written_to_events_and_read_back(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    nowhere = Endpoints("http://127.0.0.1:9", (), "m", "roundrobin", "x-user-id")
    current = State("local", {}, "test", endpoints=nowhere)

    def remove() -> str:
        current.details["drains"] = [
            {"engine": "engine-2", "began": time.time(), "seconds": 1.25, "complete": False}
        ]
        return "2 replicas"

    resilience.inject([resilience.Event(0, "scale-down", remove)], time.time(), tmp_path, current)
    recorded = resilience.read_events(tmp_path / "events.csv")
    names = [name for _, name, _ in recorded]
    assert names == ["scale-down", "drain", "drain done", "scale-down done"]
    (drain,) = resilience.drains(recorded)
    assert drain["engine"] == "engine-2" and drain["seconds"] == 1.25
    assert drain["complete"] is False
