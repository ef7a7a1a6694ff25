"""Deterministic stand-in tokenization: no tokenizer to load, yet repeated text repeats tokens.

Text becomes one token per word (with its leading whitespace), each hashed to an int, after a
BOS token as Llama tokenizers add; chats are rendered through a fixed template first. Prompts
given as token IDs (what vllm-router's cache_aware policy sends) are taken as they are. The
counts are not a real tokenizer's, but equal text always gives equal IDs, so shared prefixes
hit the simulated prefix cache as they would on a real engine.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

BOS = 1
VOCAB = 32000
OUTPUT_PIECE = " tok"
_WORD = re.compile(r"\s*\S+|\s+$")


class PromptError(ValueError):
    """A request whose prompt or messages the OpenAI API would refuse (HTTP 400)."""


def piece_id(piece: str) -> int:
    """The token ID of one piece of text: a stable hash, never a special ID."""
    return 3 + zlib.crc32(piece.encode()) % (VOCAB - 3)


OUTPUT_ID = piece_id(OUTPUT_PIECE)


def encode(text: str) -> list[int]:
    """BOS, then one ID per word with its leading whitespace."""
    return [BOS, *(piece_id(piece) for piece in _WORD.findall(text))]


def completion_prompts(prompt: Any) -> list[list[int]]:
    """The OpenAI `prompt` field as token-ID lists, one per prompt: a string, a list of token
    IDs, a list of strings, or a list of token-ID lists."""
    if isinstance(prompt, str):
        return [encode(prompt)]
    if isinstance(prompt, list) and prompt:
        if all(_is_token(item) for item in prompt):
            return [list(prompt)]
        if all(isinstance(item, str) for item in prompt):
            return [encode(item) for item in prompt]
        if all(isinstance(item, list) and item and all(map(_is_token, item)) for item in prompt):
            return [list(item) for item in prompt]
    raise PromptError("prompt must be a string, a list of token IDs, or a list of either")


def chat_prompt(messages: Any) -> list[int]:
    """A chat rendered through a fixed template (role markers, then an assistant turn)."""
    if not isinstance(messages, list) or not messages:
        raise PromptError("messages must be a non-empty list")
    parts = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise PromptError("each message needs a role")
        parts.append(f"<|{message['role']}|>\n{_content_text(message.get('content'))}\n")
    parts.append("<|assistant|>\n")
    return encode("".join(parts))


def _content_text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, Sequence):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    raise PromptError("message content must be a string or a list of parts")


def _is_token(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and item >= 0
