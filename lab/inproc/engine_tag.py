"""An ASGI middleware the lab adds to the engines it starts (`--middleware`), local and Compose:

- every response says which engine served it in an `x-lab-engine` header, which vllm-router
  passes through; load scenarios read it to count requests per engine and session stickiness;
- it counts the API requests (under /v1/) it has let in and not yet answered to the last byte,
  and says how many at GET /lab/open-requests ({"engine": NAME, "open": N}): a request the API
  server holds before vLLM's engine sees it (tokenizing, queued in its event loop) or while its
  answer is still being written counts here, where the engine's running/waiting gauges do not
  see it. A drain (lab.stack.drain) reads it.

It adds one header and one path and changes nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

HEADER = "x-lab-engine"
OPEN_PATH = "/lab/open-requests"
COUNTED_PREFIX = "/v1/"

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


class EngineTag:
    def __init__(self, app: App) -> None:
        self.app = app
        self.name = os.environ.get("LAB_ENGINE_NAME", "engine")
        self.tag = self.name.encode()
        self.open = 0

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

        def finish() -> None:
            nonlocal finished
            if counted and not finished:
                finished = True
                self.open -= 1

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER.encode(), self.tag)]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()  # the last byte is written: the client has its whole answer

        if counted:
            self.open += 1
        try:
            await self.app(scope, receive, tagged)
        finally:
            finish()

    async def _say_open(self, send: Send) -> None:
        body = json.dumps({"engine": self.name, "open": self.open}).encode()
        headers = [(b"content-type", b"application/json"), (HEADER.encode(), self.tag)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
