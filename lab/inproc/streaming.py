"""Timing a streamed OpenAI-compatible answer, with the definitions of `vllm bench serve`.

- TTFT: from sending the request to the first chunk that carries generated text.
- ITL: every gap between two text-bearing chunks (pooled per token, not per request).
- E2E: from sending to the last text-bearing chunk (the trailing usage chunk does not count).
- TPOT: (E2E - TTFT) / (output tokens - 1), per request.
- Token counts: from the usage chunk (`stream_options.include_usage`), with the prompt tokens
  served from the prefix cache when the engine reports them (`--enable-prompt-tokens-details`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Measurement:
    started: float  # wall clock (time.time) when the request was sent
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int | None = None  # prompt tokens served from the prefix cache, if told
    chunks: int = 0
    finish_reason: str = ""
    text: str = ""  # the answer, for conversations that carry it into the next round

    @property
    def tpot_ms(self) -> float | None:
        if self.ttft_ms is None or self.e2e_ms is None or self.output_tokens < 2:
            return None
        return (self.e2e_ms - self.ttft_ms) / (self.output_tokens - 1)

    @property
    def itl_ms_mean(self) -> float | None:
        return sum(self.itl_ms) / len(self.itl_ms) if self.itl_ms else None


def lines(raw: Any) -> Iterator[bytes]:
    """Lines of a response body as they arrive. `raw` is urllib3's response: read1 returns what
    one socket read brings, so a line is timed when it lands, not when a buffer fills (requests'
    iter_lines would wait for 512 bytes, or for the end of a body that is not chunked)."""
    pending = b""
    while chunk := raw.read1(65536):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


class StreamError(Exception):
    """The stream ended without any generated text, or carried an error."""


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
            break
        data = json.loads(payload)
        if "error" in data:
            raise StreamError(str(data["error"].get("message", data["error"]))[:200])
        if usage := data.get("usage"):
            result.prompt_tokens = usage.get("prompt_tokens", 0)
            result.output_tokens = usage.get("completion_tokens", 0)
            if details := usage.get("prompt_tokens_details"):
                result.cached_tokens = details.get("cached_tokens")
        for choice in data.get("choices") or []:
            if choice.get("finish_reason"):
                result.finish_reason = choice["finish_reason"]
            text = _text(choice)
            if not text:
                continue
            result.text += text
            result.chunks += 1
            if result.ttft_ms is None:
                result.ttft_ms = (now - sent) * 1000
            else:
                result.itl_ms.append((now - last) * 1000)
            last = now
            result.e2e_ms = (now - sent) * 1000
    if result.ttft_ms is None:
        raise StreamError("the stream ended without any generated text")
    return result


def _text(choice: dict) -> str:
    """Generated text of a chunk: chat `delta.content` or completion `text`."""
    delta = choice.get("delta")
    if delta is not None:
        return delta.get("content") or delta.get("reasoning_content") or ""
    return choice.get("text") or ""
