"""How a request that did not end well failed (requests.csv's `failure`), and the client's time
limits (the profile's load.timeouts, --lab-first-byte-s, --lab-stall-s, --lab-total-s) that end
a request the stack does not answer. Runs under gevent, in the Locust user."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gevent

from lab.config.timeouts import OPTIONS, Timeouts
from lab.inproc import streaming

CONNECT = "connect"  # refused or reset before any response
STREAM_CUT = "stream_cut"  # ended without a finish reason once the answer had begun
TIMEOUT_FIRST_BYTE = "timeout_first_byte"  # nothing of the answer within first_byte_s
TIMEOUT_STALL = "timeout_stall"  # no chunk for stall_s once the answer had begun
TIMEOUT_TOTAL = "timeout_total"  # the whole request took longer than total_s
BAD_RESPONSE = "bad_response"  # an answer that is not a stream of completions
TIMEOUTS = (TIMEOUT_FIRST_BYTE, TIMEOUT_STALL, TIMEOUT_TOTAL)


def http_status(status: int) -> str:
    """An HTTP error status before the answer's first byte."""
    return f"http_{status}"


class TimedOut(streaming.StreamError):
    """A time limit ended the request; `kind` says which."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"no answer within the client's limit ({kind})")
        self.kind = kind


def limits(options: Any) -> Timeouts:
    """The limits the Locust user was given (its options' defaults: the profile's)."""
    return Timeouts(options.lab_first_byte_s, options.lab_stall_s, options.lab_total_s)


def add_options(parser: Any, hidden: dict[str, Any]) -> None:
    """The Locust user's options that carry the limits."""
    defaults = Timeouts()
    for name, flag in OPTIONS.items():
        parser.add_argument(
            flag, type=float, default=getattr(defaults, name), help=f"load.timeouts.{name}",
            **hidden,
        )  # fmt: skip


def within(seconds: float, kind: str, call: Callable[[], Any]) -> Any:
    """call(), or TimedOut(kind) once `seconds` have passed. The timer is gevent's, so it ends a
    wait on a socket; only this timer's expiry is turned into TimedOut."""
    timer = gevent.Timeout(max(seconds, 0.001))
    timer.start()
    try:
        return call()
    except gevent.Timeout as expired:
        if expired is not timer:
            raise
        raise TimedOut(kind) from None
    finally:
        timer.close()


def bounded(
    lines: Iterable[bytes], sent: float, limit: Timeouts, clock: Callable[[], float]
) -> Iterator[bytes]:
    """The lines of an answer, each within its limit: the first within first_byte_s of sending
    (`sent`, on `clock`), each next within stall_s of the one before, all within total_s."""
    source = iter(lines)
    first = True
    while True:
        elapsed = clock() - sent
        wait, kind = (
            (limit.first_byte_s - elapsed, TIMEOUT_FIRST_BYTE)
            if first
            else (limit.stall_s, TIMEOUT_STALL)
        )
        if limit.total_s - elapsed < wait:
            wait, kind = limit.total_s - elapsed, TIMEOUT_TOTAL
        try:
            line = within(wait, kind, lambda: next(source))
        except StopIteration:
            return
        first = False
        yield line


def classify(error: BaseException) -> str:
    """The class of a stream that broke after a 200 answer's headers."""
    if isinstance(error, TimedOut):
        return error.kind
    if isinstance(error, ValueError):  # orjson's JSONDecodeError: a garbled chunk
        return BAD_RESPONSE
    if isinstance(error, streaming.NoToken):
        return BAD_RESPONSE  # a complete answer that carried no completion at all
    if isinstance(error, (streaming.StreamError, http.client.HTTPException, OSError)):
        return STREAM_CUT
    raise error


def refused(status: int, error: BaseException | None) -> str:
    """The class of a request that got no 200 answer. Locust's status 0 means no response; its
    error says why: a refused or reset connection, or a timeout (the client's first_byte_s,
    which geventhttpclient reports as the `original` error of its RetriesExceeded, or the
    socket's own)."""
    if status:
        return http_status(status)
    cause = getattr(error, "original", error)
    if isinstance(cause, (gevent.Timeout, TimeoutError)):
        return TIMEOUT_FIRST_BYTE
    return CONNECT
