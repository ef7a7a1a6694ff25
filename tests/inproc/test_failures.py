"""How the Locust user classifies a failed request, and its time limits, with gevent's clock:
a scripted answer whose lines arrive when the test says."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator

import gevent
import pytest
from geventhttpclient.useragent import RetriesExceeded

from lab.config.timeouts import Timeouts
from lab.inproc import failures, streaming

LIMITS = Timeouts(first_byte_s=0.2, stall_s=0.1, total_s=0.5)


def arriving(*gaps: float) -> Iterator[bytes]:
    """A line after each gap (seconds)."""
    for gap in gaps:
        gevent.sleep(gap)
        yield b"data: {}"


def read(*gaps: float, limits: Timeouts = LIMITS) -> tuple[int, str]:
    """(lines read, the class of the timeout that ended them, or "")."""
    got = 0
    try:
        for _ in failures.bounded(arriving(*gaps), time.perf_counter(), limits, time.perf_counter):
            got += 1
    except failures.TimedOut as exc:
        return got, exc.kind
    return got, ""


def test_lines_within_every_limit_all_arrive() -> None:
    assert read(0.05, 0.05, 0.05) == (3, "")


def test_a_first_line_later_than_first_byte_s_is_a_first_byte_timeout() -> None:
    began = time.perf_counter()
    assert read(0.4) == (0, failures.TIMEOUT_FIRST_BYTE)
    assert time.perf_counter() - began < 0.4  # ended at the limit, before the line came


def test_a_gap_longer_than_stall_s_is_a_stall() -> None:
    assert read(0.05, 0.05, 0.3) == (2, failures.TIMEOUT_STALL)


def test_a_stream_that_keeps_going_past_total_s_is_cut_at_total_s() -> None:
    began = time.perf_counter()
    got, kind = read(*[0.06] * 20)  # 1.2 s of lines, each within stall_s
    assert kind == failures.TIMEOUT_TOTAL and got <= 8  # 0.5 s hold 8 at most
    assert time.perf_counter() - began < 0.65


def test_a_timer_that_is_not_the_limits_own_is_left_alone() -> None:
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.05):
        read(0.1, limits=Timeouts(first_byte_s=5, stall_s=5, total_s=5))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (failures.TimedOut(failures.TIMEOUT_STALL), failures.TIMEOUT_STALL),
        (ValueError("garbled"), failures.BAD_RESPONSE),
        (streaming.NoToken("no text"), failures.BAD_RESPONSE),
        (streaming.StreamError("no finish reason"), failures.STREAM_CUT),
        (http.client.HTTPException("incomplete"), failures.STREAM_CUT),
        (ConnectionResetError(), failures.STREAM_CUT),
    ],
)
def test_a_broken_stream_is_classified(error: Exception, kind: str) -> None:
    assert failures.classify(error) == kind


def test_anything_else_is_not_a_failure_of_the_stack() -> None:
    with pytest.raises(KeyError):
        failures.classify(KeyError("a bug of the lab's own"))


def test_no_answer_is_its_status_a_connection_or_a_timeout() -> None:
    assert failures.refused(503, None) == "http_503"
    assert failures.refused(0, ConnectionRefusedError()) == failures.CONNECT
    timed_out = RetriesExceeded("http://x", 0, original=gevent.Timeout(1))
    assert failures.refused(0, timed_out) == failures.TIMEOUT_FIRST_BYTE
    assert failures.refused(0, TimeoutError()) == failures.TIMEOUT_FIRST_BYTE
