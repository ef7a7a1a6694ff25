"""ShareGPT conversations ({id, conversations: [{from, value}]}) as multi-turn sessions: each
user turn is one request carrying the conversation so far, whose assistant turns are the
recorded replies; its answer is as long as the recorded reply. Read as JSONL (a conversation a
line), or as one JSON array read incrementally (ijson): never whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

from lab import files
from lab.errors import ConfigError
from lab.traces import lines
from lab.traces.model import Request, bad, mapping, need, own_session

ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "assistant": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "system": "system",
}


def read(path: Path, block_tokens: int) -> Iterator[Request]:
    if lines.first_line(path).lstrip().startswith("["):
        conversations = _array(path)
    else:
        conversations = lines.json_lines(path)
    for where, value in conversations:
        yield from turns(where, mapping(where, value))


def _array(path: Path) -> Iterator[tuple[str, Any]]:
    """The array's items one at a time, each checked as plain data; where: its index."""
    with files.opened(path, "trace") as file:
        try:
            for index, item in enumerate(ijson.items(file, "item", use_float=True)):
                where = f"{path}: conversation {index}"
                yield where, files.plain(item, where)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON ({str(exc)[:200]})") from None


def turns(where: str, record: dict[str, Any]) -> Iterator[Request]:
    """A conversation's requests: one per user turn that has a recorded reply."""
    talk = need(where, record, "conversations")
    if not isinstance(talk, list):
        raise bad(where, "conversations", "a list of {from, value} turns", talk)
    session = str(record.get("id") or own_session(where))
    messages: list[dict[str, str]] = []
    turn = 0
    for index, item in enumerate(talk):
        name = f"conversations[{index}]"
        if not isinstance(item, dict) or item.get("from") not in ROLES:
            shown = item.get("from") if isinstance(item, dict) else item
            raise bad(where, f"{name}.from", f"one of {', '.join(ROLES)}", shown)
        if not isinstance(item.get("value"), str):
            raise bad(where, f"{name}.value", "text", item.get("value"))
        role = ROLES[item["from"]]
        if role == "assistant" and messages and messages[-1]["role"] == "user":
            yield Request(where, None, session, turn, messages=list(messages), reply=item["value"])
            turn += 1
        messages.append({"role": role, "content": item["value"]})
