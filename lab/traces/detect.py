"""Which reader a trace needs: the format named, or for `auto` the one its first line shows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from lab.errors import ConfigError
from lab.traces import formats, lines, sharegpt
from lab.traces.model import Request

Reader = Callable[[Path, int], Iterator[Request]]
READERS: dict[str, Reader] = {
    "lab": formats.lab,
    "mooncake": formats.mooncake,
    "sharegpt": sharegpt.read,
    "openai-chat": formats.openai_chat,
    "csv": formats.csv,
}
FORMATS = ("auto", *READERS)
# A first JSON line's field that names its format, in the order they are tried.
MARKS = (
    ("hash_ids", "mooncake"),
    ("conversations", "sharegpt"),
    ("offset_ms", "lab"),
    ("messages", "openai-chat"),
    ("body", "openai-chat"),
)


def decide(path: Path) -> str:
    """The format of a trace from its first line: a JSON array is ShareGPT; a JSON object, by
    the field that marks each format; a CSV header, by its columns."""
    line = lines.first_line(path).strip()
    if line.startswith("["):
        return "sharegpt"
    if line.startswith("{"):
        record = lines.parse(f"{path}:1", line)  # a broken first line is refused as such
        if isinstance(record, dict):
            found = next((name for mark, name in MARKS if mark in record), "")
            if found:
                return found
    elif formats.csv_dialect(line):
        return "csv"
    raise ConfigError(
        f"{path}:1: format: cannot be decided from the first line: expected a lab, mooncake, "
        "sharegpt, openai-chat or csv trace, or set the scenario's format"
    )


def read(path: Path, name: str, block_tokens: int) -> tuple[str, Iterator[Request]]:
    """(the format, its requests)."""
    chosen = decide(path) if name == "auto" else name
    if chosen not in READERS:
        raise ConfigError(f"{path}: format {name!r}: expected one of {', '.join(FORMATS)}")
    return chosen, READERS[chosen](path, block_tokens)
