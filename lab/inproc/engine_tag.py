"""An ASGI middleware the lab adds to its local engines (`--middleware`): every response says
which engine served it in an `x-lab-engine` header, which vllm-router passes through. Load
scenarios read it to count requests per engine and session stickiness per request; it adds
one header and changes nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

HEADER = "x-lab-engine"

Message = dict[str, Any]
App = Callable[[dict[str, Any], Callable[[], Awaitable[Message]], Callable], Awaitable[None]]


class EngineTag:
    def __init__(self, app: App) -> None:
        self.app = app
        self.tag = os.environ.get("LAB_ENGINE_NAME", "engine").encode()

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER.encode(), self.tag)]
            await send(message)

        await self.app(scope, receive, tagged)
