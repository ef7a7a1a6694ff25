"""The engine middleware on a bare ASGI app: the header it adds, the open requests it counts."""

from __future__ import annotations

import asyncio
import contextlib
import json

from lab.inproc.engine_tag import HEADER, OPEN_PATH, EngineTag


def test_it_counts_a_request_open_until_its_last_byte_and_tags_every_answer(monkeypatch):
    monkeypatch.setenv("LAB_ENGINE_NAME", "engine-3")
    release = asyncio.Event()

    async def app(scope, receive, send):  # a streamed answer that waits to end
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    tag = EngineTag(app)

    async def call(path: str) -> list[dict]:
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b""}

        await tag({"type": "http", "path": path}, receive, send)
        return sent

    async def scenario() -> tuple[list[dict], dict, dict]:
        stream = asyncio.create_task(call("/v1/completions"))
        await asyncio.sleep(0.01)
        during = json.loads((await call(OPEN_PATH))[1]["body"])
        release.set()
        answered = await stream
        after = json.loads((await call(OPEN_PATH))[1]["body"])
        return answered, during, after

    answered, during, after = asyncio.run(scenario())
    assert during == {"engine": "engine-3", "open": 1}
    assert after == {"engine": "engine-3", "open": 0}
    assert (HEADER.encode(), b"engine-3") in answered[0]["headers"]


def test_a_failed_request_is_not_left_open() -> None:
    async def broken(scope, receive, send):
        raise RuntimeError("the engine fell over")

    tag = EngineTag(broken)

    async def run() -> None:
        async def nothing(*_):
            return {}

        with contextlib.suppress(RuntimeError):
            await tag({"type": "http", "path": "/v1/chat/completions"}, nothing, nothing)

    asyncio.run(run())
    assert tag.open == 0
