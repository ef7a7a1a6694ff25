"""A trace file streamed line by line, with lab.files' hostility checks applied to each line
instead of the whole file: a regular file (not a folder, FIFO or device), not empty, text
(no NUL byte, UTF-8), each line at most MAX_LINE bytes, each JSON line plain data (finite
numbers, nesting at most lab.files.MAX_DEPTH). Traces run to gigabytes, so no cap on the file's
size: only one line is ever held."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from lab import files
from lab.errors import ConfigError

# A line of a trace: a ShareGPT conversation or an OpenAI batch body of long chats runs to
# megabytes; a line beyond this is refused rather than held.
MAX_LINE = 10 * 2**20


def raw_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line that is not blank."""
    seen = False
    with files.opened(path, "trace") as file:
        for number, line in enumerate(iter(lambda: file.readline(MAX_LINE + 1), b""), 1):
            if len(line) > MAX_LINE:
                raise ConfigError(
                    f"{path}:{number}: line: expected at most {MAX_LINE // 2**20} MB, "
                    "got a longer line"
                )
            if b"\0" in line:
                raise ConfigError(f"{path}:{number}: not a text trace (a NUL byte: binary data)")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path}:{number}: not UTF-8 text (byte {exc.start} of the line)"
                ) from None
            if text.strip():
                seen = True
                yield number, text
    if not seen:
        raise ConfigError(f"{path}: an empty trace (no requests)")


def json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(file:line, value) of every JSON line."""
    for number, line in raw_lines(path):
        where = f"{path}:{number}"
        yield where, parse(where, line)


def parse(where: str, line: str) -> Any:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({str(exc).splitlines()[0]})") from None
    return files.plain(value, where)


def first_line(path: Path) -> str:
    """The first line that is not blank (the file checked as raw_lines checks it)."""
    for _, line in raw_lines(path):
        return line
    raise AssertionError("raw_lines refuses an empty file")
