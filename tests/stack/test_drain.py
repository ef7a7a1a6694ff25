"""The one drain rule, on readings given by hand (a clock that advances by itself)."""

from __future__ import annotations

import pytest

from lab.stack import drain
from lab.stack.endpoints import Engine
from lab.stack.router import Router


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def readings(*values: float | None):
    """A signal that reads these values in turn, then its last one for ever."""
    left = list(values)
    return lambda: left.pop(0) if len(left) > 1 else left[0]


def test_it_waits_until_no_signal_shows_a_request_in_flight() -> None:
    clock = Clock()
    signals = {"router": readings(2, 1, 0), "middleware": readings(1, 1, 1, 1, 0)}
    done = drain.drain("engine-2", signals, timeout=10, interval=0.5, clock=clock,
                       sleep=clock.sleep)  # fmt: skip
    assert done.complete
    # Middleware open until its fifth read; quiet on the fifth and the sixth.
    assert done.seconds == pytest.approx(2.5)
    assert done.line == "engine-2 drained in 2.5 s (router, middleware)"


def test_a_signal_that_cannot_be_read_shows_nothing_in_flight() -> None:
    clock = Clock()
    done = drain.drain("engine-1", {"engine": lambda: None}, clock=clock, sleep=clock.sleep)
    assert done.complete and done.seconds == pytest.approx(drain.INTERVAL)


def test_the_bound_running_out_is_said_with_what_was_still_in_flight() -> None:
    clock = Clock()
    signals = {"router": readings(0), "engine": readings(3)}
    done = drain.drain("engine-2", signals, timeout=5, clock=clock, sleep=clock.sleep)
    assert not done.complete
    assert done.seconds == pytest.approx(5, abs=drain.INTERVAL)
    assert "ran out with requests still in flight (engine 3)" in done.line
    assert done.to_json()["last"] == {"router": 0, "engine": 3}


def test_each_platform_declares_its_signals_and_the_router_counts_only_under_some_policies():
    engine = Engine("engine-2", "http://127.0.0.1:9")
    counting = Router("http://127.0.0.1:9", "http://127.0.0.1:9/metrics", "cache_aware")
    not_counting = Router("http://127.0.0.1:9", "http://127.0.0.1:9/metrics", "round_robin")
    every = drain.SIGNALS
    assert set(drain.readers(every, engine, engine.url, counting)) == set(every)
    assert set(drain.readers(every, engine, engine.url, not_counting)) == {"middleware", "engine"}
    assert set(drain.readers(("engine",), engine, engine.url, None)) == {"engine"}
    with pytest.raises(ValueError, match="unknown drain signals"):
        drain.readers(("gauges",), engine, engine.url, None)
