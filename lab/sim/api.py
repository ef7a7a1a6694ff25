"""The OpenAI-compatible surface in vLLM's shapes: requests parsed into a Job, responses and
SSE chunks rendered as bytes.

Shapes follow vLLM 0.32's OpenAI server (entrypoints/openai/*/protocol.py and serving.py):
streamed chunks are dumped with exclude_unset (so e.g. `"logprobs":null` is present), the
first chat chunk carries the role with empty content, the last token's chunk carries the
finish reason, and a usage chunk with no choices follows when `stream_options.include_usage`
is set. Every streamed chunk's bytes are rendered once per request, not once per token.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from lab.sim import tokens
from lab.sim.tokens import PromptError

DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Job:
    """One parsed request: what to generate and how to answer."""

    chat: bool
    prompts: list[list[int]]
    max_tokens: int
    min_tokens: int
    ignore_eos: bool
    stream: bool
    include_usage: bool

    @property
    def prompt_tokens(self) -> int:
        return sum(len(prompt) for prompt in self.prompts)


def parse(body: Any, chat: bool, max_model_len: int) -> Job:
    """A request body as a Job; PromptError (HTTP 400) for what vLLM would refuse."""
    if not isinstance(body, dict):
        raise PromptError("the request body must be a JSON object")
    if chat:
        prompts = [tokens.chat_prompt(body.get("messages"))]
    else:
        if "prompt" not in body:
            raise PromptError("prompt is required")
        prompts = tokens.completion_prompts(body["prompt"])
    longest = max(len(prompt) for prompt in prompts)
    requested = body.get("max_completion_tokens") if chat else None
    if requested is None:
        requested = body.get("max_tokens")
    max_tokens = max_model_len - longest if requested is None else _int(requested, "max_tokens")
    if max_tokens < 1:
        raise PromptError(f"max_tokens must be at least 1, got {max_tokens}")
    if longest + max_tokens > max_model_len:
        raise PromptError(
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {longest + max_tokens} tokens ({longest} in the messages, "
            f"{max_tokens} in the completion). Please reduce the length of the messages or "
            "completion."
        )
    min_tokens = _int(body.get("min_tokens") or 0, "min_tokens")
    if min_tokens > max_tokens:
        raise PromptError("min_tokens must be less than or equal to max_tokens")
    options = body.get("stream_options") or {}
    return Job(
        chat=chat,
        prompts=prompts,
        max_tokens=max_tokens,
        min_tokens=min_tokens,
        ignore_eos=bool(body.get("ignore_eos", False)),
        stream=bool(body.get("stream", False)),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
    )


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PromptError(f"{name} must be an integer")
    return value


def request_id(chat: bool) -> str:
    return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


@dataclass(frozen=True)
class Chunks:
    """A stream's bytes: `first` goes out with the first token (chat: after the role chunk),
    `step` with each middle token, `last` with the final token (then usage and [DONE])."""

    first: bytes
    step: bytes
    last: bytes


def stream_chunks(job: Job, rid: str, model: str, count: int, reason: str) -> Chunks:
    """One SSE event per choice per token, as vLLM sends them."""
    created = int(time.time())
    head = {"id": rid, "object": _chunk_object(job.chat), "created": created, "model": model}
    choices = range(len(job.prompts))

    def event(payload: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps({**head, **payload}, separators=(",", ":")).encode() + b"\n\n"

    def token(index: int, finish: str | None) -> bytes:
        if job.chat:
            choice = {"index": index, "delta": {"content": tokens.OUTPUT_PIECE}}
            choice |= {"logprobs": None, "finish_reason": finish}
            if finish is not None:
                choice["stop_reason"] = None
            choice["token_ids"] = None
        else:
            choice = {"index": index, "text": tokens.OUTPUT_PIECE, "logprobs": None}
            choice |= {"finish_reason": finish, "stop_reason": None}
            choice |= {"prompt_token_ids": None, "token_ids": None}
        return event({"choices": [choice]})

    step = b"".join(token(index, None) for index in choices)
    last = b"".join(token(index, reason) for index in choices)
    if job.include_usage:
        last += event({"choices": [], "usage": usage(job.prompt_tokens, count * len(choices))})
    last += DONE
    first = last if count == 1 else step
    if job.chat:
        role = {"role": "assistant", "content": ""}
        opening = {"index": 0, "delta": role, "logprobs": None, "finish_reason": None}
        first = event({"choices": [opening], "prompt_token_ids": None, "prompt_text": None}) + first
    return Chunks(first, step, last)


def _chunk_object(chat: bool) -> str:
    return "chat.completion.chunk" if chat else "text_completion"


def full_response(job: Job, rid: str, model: str, count: int, reason: str) -> dict[str, Any]:
    """The non-streaming body."""
    text = tokens.OUTPUT_PIECE * count
    choices: list[dict[str, Any]] = []
    for index in range(len(job.prompts)):
        if job.chat:
            message = {"role": "assistant", "content": text, "refusal": None}
            message |= {"annotations": None, "audio": None, "function_call": None}
            message["reasoning"] = None
            choice: dict[str, Any] = {"index": index, "message": message}
        else:
            choice = {"index": index, "text": text}
        choice |= {"logprobs": None, "finish_reason": reason, "stop_reason": None}
        choice["token_ids"] = None
        choices.append(choice)
    return {
        "id": rid,
        "object": "chat.completion" if job.chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "service_tier": None,
        "system_fingerprint": None,
        "usage": usage(job.prompt_tokens, count * len(choices)) | {"prompt_tokens_details": None},
        "kv_transfer_params": None,
    }


def models(model: str, max_model_len: int, created: int) -> dict[str, Any]:
    """GET /v1/models, as vLLM lists its one served model."""
    card = {"id": model, "object": "model", "created": created, "owned_by": "vllm"}
    card |= {"root": model, "parent": None, "max_model_len": max_model_len, "permission": []}
    return {"object": "list", "data": [card]}


def error(message: str, status: int = 400) -> dict[str, Any]:
    """vLLM's error body."""
    kind = "BadRequestError" if status == 400 else "NotFoundError"
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}
