"""The cycle's promise: whatever step fails, the stack it brought up comes down."""

from __future__ import annotations

import pytest

from lab.config import profile
from lab.errors import StepFailed
from lab.load import lifecycle
from lab.stack import routing_check, smoke
from tests.helpers.samples import fake_state


@pytest.mark.parametrize("failing", ["smoke", "routing check"])
def test_a_failed_check_still_brings_the_stack_down(monkeypatch, failing: str) -> None:
    downs: list[str] = []
    monkeypatch.setattr(lifecycle, "up", lambda *a, **k: (object(), fake_state()))
    monkeypatch.setattr(lifecycle, "down", lambda *a, **k: downs.append("down") or True)

    def fail(*args: object) -> None:
        raise StepFailed(f"{failing} failed")

    monkeypatch.setattr(smoke if failing == "smoke" else routing_check, "run", fail)
    if failing != "smoke":
        monkeypatch.setattr(smoke, "run", lambda *args: [])
    with pytest.raises(StepFailed):
        lifecycle.cycle(profile.load("cpu-quick"))
    assert downs == ["down"]
