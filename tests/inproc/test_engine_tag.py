"""The engine middleware on a bare ASGI app: the header it adds, the open requests it counts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time

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


STREAM_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8")]


def timed_answer(monkeypatch, delay: str, headers: list, path: str = "/v1/completions"):
    """Each message an app sends through the middleware set to `delay`, with the seconds since
    the request came in; the app takes 50 ms to its first chunk, then 10 ms per chunk."""
    monkeypatch.setenv("LAB_TEST_DELAY", delay)

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await asyncio.sleep(0.05)
        for chunk in (b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})

    tag = EngineTag(app)

    async def run() -> list[tuple[float, dict]]:
        began = time.monotonic()
        sent: list[tuple[float, dict]] = []

        async def send(message):
            sent.append((time.monotonic() - began, message))

        async def receive():
            return {"type": "http.request", "body": b""}

        await tag({"type": "http", "path": path}, receive, send)
        return sent

    return asyncio.run(run())


def test_a_set_first_chunk_delay_holds_back_only_the_first_chunk(monkeypatch) -> None:
    plain = timed_answer(monkeypatch, "", STREAM_HEADERS)
    slowed = timed_answer(monkeypatch, '{"first_chunk_ms": 200, "ttft_share": 0}', STREAM_HEADERS)
    first = slowed[1][0] - plain[1][0]
    assert 0.18 < first < 0.4, first
    # The chunks after it follow at the app's own pace: nothing more is added.
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(slowed[1:])]
    assert all(gap < 0.1 for gap in gaps), gaps
    assert slowed[-1][0] - plain[-1][0] < 0.4


def test_a_ttft_share_adds_that_share_of_the_time_to_the_first_chunk(monkeypatch) -> None:
    slowed = timed_answer(monkeypatch, '{"first_chunk_ms": 0, "ttft_share": 2.0}', STREAM_HEADERS)
    # 50 ms to the first chunk, then twice that again.
    assert 0.14 < slowed[1][0] < 0.35, slowed[1][0]


def test_answers_that_are_not_streamed_or_not_the_api_are_never_delayed(monkeypatch) -> None:
    delay = '{"first_chunk_ms": 300, "ttft_share": 0}'
    json_answer = timed_answer(monkeypatch, delay, [(b"content-type", b"application/json")])
    assert json_answer[1][0] < 0.25
    health = timed_answer(monkeypatch, delay, STREAM_HEADERS, path="/health")
    assert health[1][0] < 0.25
