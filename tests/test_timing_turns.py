"""The suite's own rule for `timing` tests (tests/helpers/timing.py): one waits for the tests
running beside it, then runs alone, and the tests that come after it wait their turn. Threads
stand for the pytest-xdist workers: each opens the lock files itself, as a worker would."""

from __future__ import annotations

import threading

from tests.helpers import timing

WAIT_S = 10  # far beyond what a thread takes to reach a free lock, even on a busy machine
SETTLE_S = 0.3  # long enough for a thread that is not held back to get in


def test_a_timing_test_waits_for_the_tests_beside_it_then_runs_alone(monkeypatch, tmp_path):
    monkeypatch.setenv(timing.LOCKS, str(tmp_path))
    order: list[str] = []
    inside = {name: threading.Event() for name in ("before", "timing", "after")}
    leave = {name: threading.Event() for name in inside}

    def test(name: str, alone: bool) -> threading.Thread:
        def run() -> None:
            with timing.turn(alone):
                order.append(f"{name} in")
                inside[name].set()
                assert leave[name].wait(WAIT_S)
                order.append(f"{name} out")

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    threads = [test("before", alone=False)]
    assert inside["before"].wait(WAIT_S)
    threads.append(test("timing", alone=True))
    assert not inside["timing"].wait(SETTLE_S)  # a test is still running beside it
    threads.append(test("after", alone=False))
    assert not inside["after"].wait(SETTLE_S)  # the timing test came first
    leave["before"].set()
    assert inside["timing"].wait(WAIT_S)
    assert not inside["after"].wait(SETTLE_S)  # nothing runs beside the timing test
    leave["timing"].set()
    assert inside["after"].wait(WAIT_S)
    leave["after"].set()
    for thread in threads:
        thread.join(WAIT_S)
    assert order == ["before in", "before out", "timing in", "timing out", "after in", "after out"]


def test_tests_that_are_not_timing_run_side_by_side(monkeypatch, tmp_path):
    monkeypatch.setenv(timing.LOCKS, str(tmp_path))
    with timing.turn(alone=False):
        entered = threading.Event()

        def beside() -> None:
            with timing.turn(alone=False):
                entered.set()

        thread = threading.Thread(target=beside)
        thread.start()
        assert entered.wait(WAIT_S)
        thread.join(WAIT_S)


def test_a_run_of_timing_tests_keeps_the_others_waiting_to_its_end(monkeypatch, tmp_path):
    monkeypatch.setenv(timing.LOCKS, str(tmp_path))
    entered = threading.Event()

    def beside() -> None:
        with timing.turn(alone=False):
            entered.set()

    with timing.turn(alone=True, next_alone=True):
        thread = threading.Thread(target=beside)
        thread.start()
    assert not entered.wait(SETTLE_S)  # between two timing tests: still held back
    with timing.turn(alone=True):
        assert not entered.is_set()
    assert entered.wait(WAIT_S)
    thread.join(WAIT_S)
