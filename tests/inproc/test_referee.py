"""The referee on a bare ASGI app behind the engine middleware: each request's arrival and
first chunk, on the engine's clock, keyed by the ID it carried or was given and returned."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lab.inproc import referee
from lab.inproc.engine_tag import EngineTag

ROLE = b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
TOKEN = b'data: {"choices":[{"delta":{"content":"tok"}}]}\n\n'
PREFILL_S, ROLE_TO_TOKEN_S = 0.05, 0.03  # the app's timeline
EARLY_MS = 1.0  # asyncio's timers may wake up to a clock tick early
SLACK_MS = 40.0  # a loaded machine's lateness


async def streaming_app(scope, receive, send) -> None:
    """A chat stream: its role chunk after 50 ms, its first token 30 ms later, then done."""
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await asyncio.sleep(PREFILL_S)
    await send({"type": "http.response.body", "body": ROLE, "more_body": True})
    await asyncio.sleep(ROLE_TO_TOKEN_S)
    await send({"type": "http.response.body", "body": TOKEN, "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def requests(tag: EngineTag, *headers: list[tuple[bytes, bytes]]) -> list[list[dict]]:
    """What the middleware sent for requests with these headers, made one after the other."""

    async def one(carried: list[tuple[bytes, bytes]]) -> list[dict]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "path": "/v1/chat/completions", "headers": carried}
        await tag(scope, receive, send)
        return sent

    async def all_of() -> list[list[dict]]:
        return [await one(h) for h in headers]

    return asyncio.run(all_of())


def test_the_referee_times_first_chunk_and_first_text_under_each_requests_id(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LAB_ENGINE_NAME", "engine-0")
    monkeypatch.setenv(referee.DIR_ENV, str(tmp_path))
    tag = EngineTag(streaming_app)
    carried, given = requests(tag, [(b"x-request-id", b"bench-7")], [])
    records = referee.read(tmp_path)
    assert len(records) == 2 and records[0]["id"] == "bench-7"
    returned = dict(given[0]["headers"])[referee.ANSWER_HEADER].decode()
    assert len(returned) == 32 and records[1]["id"] == returned  # assigned, and returned
    assert dict(carried[0]["headers"])[referee.ANSWER_HEADER] == b"bench-7"
    for record in records:
        assert record["engine"] == "engine-0" and record["status"] == 200
        # The role chunk is the first chunk, before the first text; each no earlier than the app
        # sent it, and well within a loaded machine's slack of it.
        prefill = PREFILL_S * 1000
        assert prefill - EARLY_MS <= record["first_chunk_ms"] < prefill + SLACK_MS
        gap = record["first_text_ms"] - record["first_chunk_ms"]
        assert ROLE_TO_TOKEN_S * 1000 - EARLY_MS <= gap < ROLE_TO_TOKEN_S * 1000 + SLACK_MS
        assert record["end_ms"] >= record["first_text_ms"]
    assert records[0]["arrived"] <= records[1]["arrived"]


def test_without_its_folder_the_referee_is_off_and_adds_no_header(tmp_path, monkeypatch):
    monkeypatch.delenv(referee.DIR_ENV, raising=False)
    (answer,) = requests(EngineTag(streaming_app), [])
    assert referee.ANSWER_HEADER not in dict(answer[0]["headers"])


def test_a_chunk_carries_text_when_a_choice_has_content_or_text() -> None:
    assert not referee.carries_text(ROLE)
    assert referee.carries_text(TOKEN)
    assert referee.carries_text(b'data: {"choices":[{"text":"a"}]}\n\n')
    assert not referee.carries_text(b"data: [DONE]\n\n")
    assert referee.carries_text(json.dumps({"choices": []}).encode())  # a whole JSON answer
