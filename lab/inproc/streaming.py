"""Timing a streamed OpenAI-compatible answer, with the definitions of `vllm bench serve`.

- A token chunk is one that carries a choice, other than a chat stream's opening role chunk
  (vLLM sends that just before the first token's). vLLM streams one per token, and its text may
  be empty: a token whose bytes do not make a whole character yet (byte-level vocabularies such
  as the lab's tiny model's), or a special token. Waiting for text instead would add those
  tokens' time to TTFT.
- TTFT: from sending the request to the first token chunk.
- ITL: every gap between two token chunks (pooled per token, not per request).
- E2E: from sending to the last token chunk (the trailing usage chunk carries no choice).
- TPOT: (E2E - TTFT) / (output tokens - 1), per request.
- Token counts: from the usage chunk (`stream_options.include_usage`), with the prompt tokens
  served from the prefix cache when the engine reports them (`--enable-prompt-tokens-details`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any

import orjson  # parses a chunk about 3x faster than json: the user's cost is per chunk

READ_SIZE = 65536  # bytes asked of the socket at once: all a burst of chunks brings


@dataclass
class Measurement:
    started: float  # wall clock (time.time) when the request was sent
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int | None = None  # prompt tokens served from the prefix cache, if told
    finish_reason: str = ""
    pieces: list[str] = field(default_factory=list)  # the answer's text, chunk by chunk

    @property
    def text(self) -> str:
        """The answer, for conversations that carry it into the next round."""
        return "".join(self.pieces)

    @property
    def tpot_ms(self) -> float | None:
        if self.ttft_ms is None or self.e2e_ms is None or self.output_tokens < 2:
            return None
        return (self.e2e_ms - self.ttft_ms) / (self.output_tokens - 1)

    @property
    def itl_ms_mean(self) -> float | None:
        return sum(self.itl_ms) / len(self.itl_ms) if self.itl_ms else None


def lines(response: Any) -> Iterator[bytes]:
    """Lines of a response body as they arrive. `response` is geventhttpclient's (what Locust's
    FastHttpUser wraps): whatever its parser holds is taken at once, and the socket is read only
    when it holds nothing, so a line is timed when it lands, not when a buffer fills.

    Its own readline would do, but copies each line with copy.copy, which costs more than all
    the rest of a chunk's handling. A body that breaks off raises http.client.HTTPException
    (geventhttpclient's HTTPParseError)."""
    pending = b""
    while response._body_buffer or not response.message_complete:
        if not response._body_buffer:
            _receive(response)
            continue
        arrived, response._body_buffer = response._body_buffer, bytearray()
        *complete, pending = (pending + arrived).split(b"\n")
        yield from complete
    if pending:
        yield pending


def _receive(response: Any) -> None:
    """Feed the parser what one socket read brings. A closed connection ends a body that lasts
    until then; any other body it breaks off (a chunked one raises HTTPParseError)."""
    data = response._sock.recv(READ_SIZE) if response._sock is not None else b""
    response.feed(data)
    if not data and not response.message_complete:
        raise HTTPException("the connection closed before the end of the body")


class StreamError(Exception):
    """The stream carried an error, or ended without a finish reason."""


class NoToken(StreamError):
    """The stream ended without any token."""


def read(
    lines: Iterable[bytes],
    sent: float,
    started: float,
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Time a server-sent-event stream whose request was sent at `sent` (on `clock`)."""
    result = Measurement(started=started)
    last = sent
    for raw in lines:
        now = clock()
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue  # blank separators, comments, pings
        payload = line[5:].strip()
        if payload == b"[DONE]":
            continue  # read on to the body's end: the connection then goes back to the pool
        data = orjson.loads(payload)
        if "error" in data:
            raise StreamError(str(data["error"].get("message", data["error"]))[:200])
        if usage := data.get("usage"):
            result.prompt_tokens = usage.get("prompt_tokens", 0)
            result.output_tokens = usage.get("completion_tokens", 0)
            if details := usage.get("prompt_tokens_details"):
                result.cached_tokens = details.get("cached_tokens")
        choices = [choice for choice in data.get("choices") or [] if not _opening(choice)]
        if not choices:
            continue
        for choice in choices:
            if choice.get("finish_reason"):
                result.finish_reason = choice["finish_reason"]
            if text := _text(choice):
                result.pieces.append(text)
        if result.ttft_ms is None:
            result.ttft_ms = (now - sent) * 1000
        else:
            result.itl_ms.append((now - last) * 1000)
        last = now
        result.e2e_ms = (now - sent) * 1000
    if result.ttft_ms is None:
        raise NoToken("the stream ended without any token")
    if not result.finish_reason:  # an engine that stopped mid-answer, its stream ended for it
        raise StreamError("the stream ended without a finish reason")
    return result


def _opening(choice: dict) -> bool:
    """A chat stream's first chunk, which names the role and carries no token."""
    delta = choice.get("delta") or {}
    return "role" in delta and not _text(choice) and not choice.get("finish_reason")


def _text(choice: dict) -> str:
    """Generated text of a chunk: chat `delta.content` or completion `text`."""
    delta = choice.get("delta")
    if delta is not None:
        return delta.get("content") or delta.get("reasoning_content") or ""
    return choice.get("text") or ""
