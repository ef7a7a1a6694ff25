"""Conversations as token IDs, for a router that routes on token IDs.

vllm-router (0.1.17) matches prefixes on token IDs and makes none itself for HTTP workers: a
chat request reaches its cache_aware policy as `missing_tokens` and is routed by load alone.
So where vllm-router routes, the routing scenario renders each conversation with the model's
own chat template and tokenizer, as vLLM's chat endpoint would, and sends the IDs as a
completion prompt: the engine sees the same tokens, and the router can follow the prefix.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from lab.errors import ConfigError


@cache
def tokenizer(source: str) -> Any:
    """The model's fast tokenizer (tokenizer.json, as vllm-router itself reads), from a folder
    or a Hugging Face id. Imported here, not with transformers' model stack: 2 s, not 7."""
    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        raise ConfigError(
            f"tokenizer {source}: transformers is not installed here; install the lab with its "
            "engine extra (nox -s cpu-lab does) to read text and chats as tokens"
        ) from None
    try:
        loaded = PreTrainedTokenizerFast.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"tokenizer {source}: cannot be loaded ({str(exc).splitlines()[0]}); "
            "token-ID prompts need the model's tokenizer.json"
        ) from None
    if not loaded.chat_template:
        raise ConfigError(f"tokenizer {source}: has no chat template to render conversations")
    return loaded


def token_ids(source: str, messages: list[dict[str, str]]) -> list[int]:
    """What vLLM's chat endpoint would feed the model for these messages."""
    tok = tokenizer(source)
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    # The template holds every special token: like vLLM's chat endpoint, add none.
    return tok(text, add_special_tokens=False).input_ids
