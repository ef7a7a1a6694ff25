"""One request of a trace, as every reader yields it, and the checks of its fields: each failure
is one ConfigError naming file:line and the field."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lab.errors import ConfigError


@dataclass
class Request:
    """A recorded request. Its prompt is one of: token IDs (`ids`), text to tokenize as it is
    (`text`), a chat to render with the model's template (`messages`), Mooncake blocks
    (`blocks`, cut to `length` tokens), or only a length (`length`, filled with tokens no other
    request shares). `output` 0 means the length of the recorded reply (`reply`), in tokens."""

    where: str  # file:line, for messages
    at_ms: float | None  # offset from the trace's start; None: the format has no timestamps
    session: str
    turn: int = 0
    ids: list[int] | None = None
    text: str | None = None
    messages: list[dict[str, str]] | None = None
    blocks: list[int] | None = None
    length: int = 0
    output: int = 0
    reply: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def own_session(where: str) -> str:
    """The session of a request the trace gives none: its own, named by its line
    ("line-12") or its place in a JSON array ("conversation-3"), never by the file's path."""
    tail = where.rsplit(":", 1)[-1].strip()
    return f"line-{tail}" if tail.isdigit() else tail.replace(" ", "-")


def bad(where: str, name: str, expected: str, got: Any = None) -> ConfigError:
    shown = "" if got is None else f", got {_shown(got)}"
    return ConfigError(f"{where}: {name}: expected {expected}{shown}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def mapping(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(where, "line", "a JSON object", type(value).__name__)
    return value


def need(where: str, record: dict[str, Any], name: str) -> Any:
    if name not in record:
        raise bad(where, name, "this field (it is missing)")
    return record[name]


def count(where: str, name: str, value: Any, least: int = 1) -> int:
    """A whole number of at least `least` (a JSON 3.0 is taken as 3)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise bad(where, name, f"a whole number of at least {least}", value)
    return value


def millis(where: str, name: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise bad(where, name, "a number of milliseconds", value)
    if value < 0:
        raise bad(where, name, "a timestamp of 0 or more", value)
    return float(value)


def token_ids(where: str, name: str, value: Any) -> list[int]:
    ok = isinstance(value, list) and value
    if not ok or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise bad(where, name, "a non-empty list of token IDs (whole numbers of 0 or more)", value)
    return value


def text(where: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise bad(where, name, "non-empty text", value)
    return value


def chat(where: str, name: str, value: Any) -> list[dict[str, str]]:
    """OpenAI messages: [{role, content}], content as text."""
    if not isinstance(value, list) or not value:
        raise bad(where, name, "a non-empty list of {role, content} messages", value)
    for index, message in enumerate(value):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad(where, f"{name}[{index}].role", "text", message)
        if not isinstance(message.get("content"), str):
            raise bad(where, f"{name}[{index}].content", "text", message.get("content"))
    return [{"role": m["role"], "content": m["content"]} for m in value]


class Order:
    """Timestamps must not go back: the first one that does is refused."""

    def __init__(self) -> None:
        self.last = 0.0

    def check(self, where: str, name: str, at_ms: float) -> float:
        if at_ms < self.last:
            raise bad(
                where, name, f"timestamps in order (the line before is at {self.last:g})", at_ms
            )
        self.last = at_ms
        return at_ms
