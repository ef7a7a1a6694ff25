"""Run-time faults in the engine middleware, on a bare ASGI app: off without the lab's token,
refused without it in the request, and each fault as the lab sets it (HTTP 500, a stream cut
after its first chunk, a first chunk held back), tagged with the engine as every answer."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from lab.inproc import engine_faults
from lab.inproc.engine_faults import (
    PATH,
    TEST_DELAY_ENV,
    TOKEN_ENV,
    TOKEN_HEADER,
    Cut,
    Delay,
    Faults,
)
from lab.inproc.engine_tag import HEADER, EngineTag

TOKEN = "s3cret-token-of-this-run"


STREAMED = [(b"content-type", b"text/event-stream")]


async def stream(scope, receive, send):  # two chunks of a streamed answer
    await send({"type": "http.response.start", "status": 200, "headers": STREAMED})
    await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def call(app, path: str, body: bytes = b"", token: str = "") -> list[dict]:
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": body}

    headers = [(TOKEN_HEADER.encode(), token.encode())] if token else []
    scope = {"type": "http", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_without_a_token_the_control_is_not_there(monkeypatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert engine_faults.wrap(stream, Faults()) is stream
    answered = call(EngineTag(stream), PATH, b'{"error_share": 1}', token=TOKEN)
    assert answered[0]["status"] == 200  # the app's own answer: no control path was served


def test_the_control_needs_this_run_s_token_and_checks_what_it_is_told(monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    tag = EngineTag(stream)
    assert call(tag, PATH, b'{"error_share": 1}')[0]["status"] == 403
    assert call(tag, PATH, b'{"error_share": 1}', token="guess")[0]["status"] == 403
    refused = call(tag, PATH, b'{"error_share": 2}', token=TOKEN)
    assert refused[0]["status"] == 400 and b"within 0..1" in refused[1]["body"]
    assert call(tag, PATH, b'{"teapot": 1}', token=TOKEN)[0]["status"] == 400
    answered = call(tag, PATH, b'{"error_share": 0.5, "error_mode": "cut"}', token=TOKEN)
    assert json.loads(answered[1]["body"])["error_mode"] == "cut"


def test_http_500_is_answered_tagged_and_a_cut_stream_stops_after_its_first_chunk(
    monkeypatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("LAB_ENGINE_NAME", "engine-1")
    tag = EngineTag(stream)
    call(tag, PATH, b'{"error_share": 1}', token=TOKEN)
    failed = call(tag, "/v1/completions")
    assert failed[0]["status"] == 500 and (HEADER.encode(), b"engine-1") in failed[0]["headers"]
    call(tag, PATH, b'{"error_share": 1, "error_mode": "cut"}', token=TOKEN)
    with pytest.raises(Cut):
        call(tag, "/v1/completions")
    call(tag, PATH, b"{}", token=TOKEN)  # cleared: answers as before
    assert [m.get("body") for m in call(tag, "/v1/completions")][1:] == [
        b"data: 1\n\n",
        b"data: [DONE]\n\n",
    ]
    assert tag.open == 0


def test_a_slow_fault_holds_back_the_first_chunk_only(monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    tag = EngineTag(stream)
    call(tag, PATH, b'{"first_chunk_ms": 200}', token=TOKEN)
    began = time.monotonic()
    call(tag, "/v1/completions")
    assert time.monotonic() - began >= 0.2


def test_a_test_delay_holds_from_the_start_adds_to_a_slow_fault_and_outlives_its_clearing(
    monkeypatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(TEST_DELAY_ENV, '{"first_chunk_ms": 150, "ttft_share": 0}')
    tag = EngineTag(stream)

    def took() -> float:
        began = time.monotonic()
        call(tag, "/v1/completions")
        return time.monotonic() - began

    assert took() >= 0.15  # no token, no control call: the test delay is there from the start
    answered = call(tag, PATH, b'{"first_chunk_ms": 200}', token=TOKEN)
    assert json.loads(answered[1]["body"])["first_chunk_ms"] == 200  # the run-time part only
    assert took() >= 0.35  # one sleep of both, added
    call(tag, PATH, b"{}", token=TOKEN)
    assert 0.15 <= took() < 0.34  # cleared: the test delay is still in force, alone


def test_one_delay_formula_for_both() -> None:
    faults = Faults(ttft_share=0.5, standing=Delay(first_chunk_ms=100, ttft_share=0.25))
    assert faults.slow.seconds(2.0) == pytest.approx(0.1 + 0.75 * 2.0)
    assert not Faults().slow.on and Faults(standing=Delay(ttft_share=0.1)).slow.on


def test_an_error_share_fails_that_share_of_any_run_of_requests() -> None:
    faults = Faults()
    faults.apply({"error_share": 0.25})
    drawn = [faults.draw() for _ in range(40)]
    # The golden-ratio sequence strays from the share by a few requests at most, never more.
    assert 8 <= drawn.count("http_500") <= 12 and set(drawn) == {"", "http_500"}
    assert 1 <= drawn[:8].count("http_500") <= 3  # spread over the run, not bunched
