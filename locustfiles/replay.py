"""Replay: a trace's requests (the schedule lab.load.replay wrote from it, --lab-schedule) sent
as token IDs on /v1/completions, in the trace's order: at its own times divided by
--lab-speedup (timed), as Poisson arrivals at --lab-rate (rate), or closed loop (concurrency).

Each session is sent by one Locust process (by a hash of its key), and its turns in order: a
turn waits for the one before it to be answered. Each process streams the file and keeps its
share, so a trace of millions of requests is never held whole. The run ends once every
process has sent and heard back its share.

    locust -f locustfiles/replay.py --host http://127.0.0.1:30080 -u 8 -r 8 \
        --lab-schedule schedule.jsonl --lab-mode concurrency
"""

from __future__ import annotations

import itertools
import time
import zlib
from collections.abc import Iterator
from typing import Any

import gevent
import orjson
from gevent.event import Event
from locust import constant, events, task

from lab.inproc import swarm
from lab.inproc.llm_user import STOPPING, LLMUser, rng
from lab.inproc.poisson import schedule
from lab.traces import blocks

FINISHED = itertools.count(1)


@events.init_command_line_parser.add_listener
def options(parser) -> None:
    hidden = {"include_in_web_ui": False}
    parser.add_argument("--lab-schedule", default="", help="the schedule to send", **hidden)
    parser.add_argument("--lab-mode", default="concurrency", help="timed, rate or concurrency")
    parser.add_argument("--lab-speedup", type=float, default=1.0, help="timed: time divided by")
    parser.add_argument("--lab-rate", type=float, default=0.0, help="rate: arrivals per second")
    parser.add_argument("--lab-block-seed", type=int, default=0, help="seed of Mooncake blocks")
    parser.add_argument("--lab-block-tokens", type=int, default=512, help="tokens per hash id")
    parser.add_argument("--lab-vocab", type=int, default=32000, help="token IDs below this")
    parser.add_argument("--lab-session-key", default="x-user-id", help="session header", **hidden)


class Share:
    """This process's requests, each with when it is due and the turn it waits for."""

    def __init__(self) -> None:
        self.lines: Iterator[dict[str, Any]] = iter(())
        self.times: Iterator[float] = iter(())
        self.mode = "concurrency"
        self.speedup = 1.0
        self.origin = 0.0
        self.turns: dict[str, Event] = {}

    def start(self, options: Any, index: int, count: int) -> None:
        self.lines = _mine(options.lab_schedule, index, count)
        self.mode, self.speedup = options.lab_mode, options.lab_speedup
        if self.mode == "rate":  # independent Poisson shares add up to one at the whole rate
            seed = rng(3, index).randrange(2**31)
            self.times = schedule(options.lab_rate / count, 1.0, seed)
        self.turns = {}
        self.origin = time.monotonic()

    def claim(self) -> tuple[float, dict[str, Any], Event | None, Event] | None:
        line = next(self.lines, None)
        if line is None:
            return None
        if self.mode == "timed":
            due = self.origin + line["at"] / 1000 / self.speedup
        elif self.mode == "rate":
            due = self.origin + next(self.times)
        else:
            due = time.monotonic()
        before = self.turns.get(line["s"])
        self.turns[line["s"]] = done = Event()
        return due, line, before, done

    def answered(self, session: str, done: Event) -> None:
        """A turn is over: the next one may go; a session with none after it is forgotten
        (a trace of a million sessions is not kept in memory)."""
        done.set()
        if self.turns.get(session) is done:
            del self.turns[session]


def _mine(path: str, index: int, count: int) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as file:
        for raw in file:
            line = orjson.loads(raw)
            if zlib.crc32(line["s"].encode()) % count == index:
                yield line


SHARE = Share()


@events.test_start.add_listener
def start_share(environment, **_) -> None:
    global FINISHED
    FINISHED = itertools.count(1)
    index, count = swarm.share(environment)
    SHARE.start(environment.parsed_options, index, count)


def prompt(line: dict[str, Any], options: Any) -> list[int]:
    """The request's token IDs, from the schedule's line."""
    if "ids" in line:
        return line["ids"]
    seed, vocab = options.lab_block_seed, options.lab_vocab
    if "blocks" in line:
        return blocks.from_blocks(line["blocks"], line["n"], seed, options.lab_block_tokens, vocab)
    return blocks.fill(line["key"], line["fill"], seed, vocab)


class ReplayUser(LLMUser):
    kind = "replay"
    wait_time = constant(0)

    def on_start(self) -> None:
        self.done = False

    @task
    def send_next(self) -> None:
        if self.done:
            gevent.sleep(1)
            return
        claimed = SHARE.claim()
        if claimed is None:
            self.finish()
            return
        due, line, before, answered = claimed
        try:
            gevent.sleep(max(0.0, due - time.monotonic()))
            ready = due
            if before is not None and not before.is_set():
                before.wait()  # the session's turn before this one is answered first
                ready = time.monotonic()  # waiting on the stack is not the client being late
            if STOPPING["since"]:
                return
            lag_ms = (time.monotonic() - ready) * 1000
            options = self.environment.parsed_options
            self.complete(
                prompt(line, options),
                line["out"],
                headers={options.lab_session_key: line["s"]},
                session=line["s"],
                round=line["t"],
                lag_ms=f"{lag_ms:.1f}",
            )
        finally:
            SHARE.answered(line["s"], answered)

    def finish(self) -> None:
        """No more requests for this user: it stays idle; the last user of the process to
        finish says so (the run ends once every process has)."""
        self.done = True
        runner = self.environment.runner
        if runner is not None and next(FINISHED) >= runner.target_user_count:
            swarm.all_done(self.environment)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(ReplayUser)
