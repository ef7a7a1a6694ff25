"""Event timing of the resilience scenarios, without a stack (the stack tests are in
test_resilience_stack.py; the figures' tests in tests/results/test_resilience_figures.py)."""

from __future__ import annotations

import time
from dataclasses import replace

from lab.load import resilience
from lab.results import resilience_figures
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
        current.endpoints = replace(nowhere, engines=(Engine("engine-0", "http://127.0.0.1:9"),))
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
    recorded = resilience_figures.read_events(tmp_path / "events.csv")
    assert [(name, detail) for _, name, detail in recorded] == [
        ("scale-up", "begin"), ("added", "engine-0"), ("scale-up done", "up"),
        ("scale-down", "begin"), ("scale-down done", "down"),
    ]  # fmt: skip


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
    recorded = resilience_figures.read_events(tmp_path / "events.csv")
    names = [name for _, name, _ in recorded]
    assert names == ["scale-down", "drain", "drain done", "scale-down done"]
    (drain,) = resilience_figures.drains(recorded)
    assert drain["engine"] == "engine-2" and drain["seconds"] == 1.25
    assert drain["complete"] is False
