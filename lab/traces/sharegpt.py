"""ShareGPT conversations ({id, conversations: [{from, value}]}) as multi-turn sessions: each
user turn is one request carrying the conversation so far, whose assistant turns are the
recorded replies; its answer is as long as the recorded reply. Read as JSONL (a conversation a
line), or as one JSON array read incrementally (ijson): never whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

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
    """The array's items one at a time, each checked as plain data; where: its index. An item
    is held to a trace line's cap (lines.MAX_LINE), counted in the bytes read for it."""
    with files.opened(path, "trace") as file:
        capped = Capped(file, path)
        try:
            for index, item in enumerate(ijson.items(capped, "item", use_float=True)):
                where = f"{path}: conversation {index}"
                capped.since = 0
                yield where, files.plain(item, where)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON ({str(exc)[:200]})") from None


class Capped:
    """A file read through, refused once one item has taken more than a line may."""

    SLACK = 2**16  # what ijson reads ahead of the item it is building

    def __init__(self, file: BinaryIO, path: Path) -> None:
        self.file, self.path, self.since = file, path, 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.since += len(data)
        if self.since > lines.MAX_LINE + self.SLACK:
            raise ConfigError(
                f"{self.path}: a conversation: expected at most "
                f"{lines.MAX_LINE // 2**20} MB, got a longer one"
            )
        return data


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
