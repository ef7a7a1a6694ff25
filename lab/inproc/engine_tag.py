"""An ASGI middleware the lab adds to the engines it starts (`--middleware`), local and Compose:

- every response says which engine served it in an `x-lab-engine` header, which vllm-router
  passes through; load scenarios read it to count requests per engine and session stickiness;
- it counts the API requests (under /v1/) it has let in and not yet answered to the last byte,
  and says how many at GET /lab/open-requests ({"engine": NAME, "open": N}): a request the API
  server holds before vLLM's engine sees it (tokenizing, queued in its event loop) or while its
  answer is still being written counts here, where the engine's running/waiting gauges do not
  see it. A drain (lab.stack.drain) reads it;
- with $LAB_REFEREE_DIR set, it records when each API request arrived and when its first chunk
  left, keyed by a request ID it returns (lab.inproc.referee).

It adds one header and one path and changes nothing else, unless the profile sets
engine.test_delay (tests and calibration only, docs/compare.md; $LAB_TEST_DELAY, JSON): then it
holds back the first chunk of every streamed answer (text/event-stream) under /v1/ by
`first_chunk_ms` plus `ttft_share` of the time that answer took to its first chunk, so the
client's TTFT grows by a known amount. Later chunks are not delayed: they follow at the pace
vLLM makes them. Faults a faults scenario injects at run time: lab.inproc.engine_faults, whose
`Faults` holds this test delay too (a slow fault adds to it), so one delay is applied, once.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lab.inproc import engine_faults
from lab.inproc.referee import Referee

HEADER = "x-lab-engine"
OPEN_PATH = "/lab/open-requests"
COUNTED_PREFIX = "/v1/"
STREAM_TYPE = b"text/event-stream"

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


class EngineTag:
    def __init__(self, app: App) -> None:
        self.faults = engine_faults.Faults(standing=engine_faults.Delay.from_env())
        # run-time faults, only where the lab asked for them
        self.app = engine_faults.wrap(app, self.faults)
        self.name = os.environ.get("LAB_ENGINE_NAME", "engine")
        self.tag = self.name.encode()
        self.open = 0
        self.referee = Referee.from_env(self.name)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == OPEN_PATH:
            await self._say_open(send)
            return
        counted = path.startswith(COUNTED_PREFIX)
        finished = False
        arrived = time.monotonic()
        held = {"first": False}
        call = self.referee.begin(scope) if self.referee else None

        def finish() -> None:
            nonlocal finished
            if counted and not finished:
                finished = True
                self.open -= 1

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Read when the answer starts, so a slow fault set meanwhile counts.
                held["first"] = counted and _streamed(message) and self.faults.slow.on
                message["headers"] = [*message.get("headers", []), (HEADER.encode(), self.tag)]
                if call:
                    call.started(message.get("status", 0))
                    message["headers"].append(call.header())
            elif message["type"] == "http.response.body" and held["first"] and message.get("body"):
                held["first"] = False
                await asyncio.sleep(self.faults.slow.seconds(time.monotonic() - arrived))
            await send(message)
            if call and message["type"] == "http.response.body":
                call.chunk(message.get("body", b""))
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()  # the last byte is written: the client has its whole answer

        if counted:
            self.open += 1
        try:
            await self.app(scope, receive, tagged)
        finally:
            finish()
            if call:
                call.end()

    async def _say_open(self, send: Send) -> None:
        body = json.dumps({"engine": self.name, "open": self.open}).encode()
        headers = [(b"content-type", b"application/json"), (HEADER.encode(), self.tag)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _streamed(start: Message) -> bool:
    """A streamed answer (server-sent events), as the lab's scenarios ask for."""
    return any(
        name.lower() == b"content-type" and value.startswith(STREAM_TYPE)
        for name, value in start.get("headers", [])
    )
