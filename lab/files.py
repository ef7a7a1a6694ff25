"""The one guarded way to read a file the lab is given: a profile, a values file, the state, a
results folder's files, a noise profile. A hostile or broken file must neither hang the lab (a
FIFO, a device), exhaust it (a huge file, nesting or aliases without end), nor crash it (bytes
that are not UTF-8, NaN): each is one ConfigError naming the file, where in it, and what was
expected. The caps are stated in docs/bad-input.md.
"""

from __future__ import annotations

import csv
import json
import math
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lab.errors import ConfigError

MAX_BYTES = 4 * 2**20  # a file read whole: profiles, state, manifests are a few KB
MAX_LINE = 64 * 2**10  # a line of a file read as a stream (requests.csv, engine_series.csv)
MAX_DEPTH = 64  # nesting of a JSON or YAML document; the lab's own go 6 deep
MAX_NODES = 100_000  # values of a YAML document once its aliases are expanded
MAX_INT = 2**53  # a whole number beyond this is not one a JSON number holds exactly
SHOWN = 200  # characters of a value shown in a message; the rest is cut


def read_bytes(path: Path, what: str = "file") -> bytes:
    """The whole of a regular file of at most MAX_BYTES."""
    with _open(path, what) as file:
        size = os.fstat(file.fileno()).st_size
        data = file.read(MAX_BYTES + 1) if size <= MAX_BYTES else b""
    if size > MAX_BYTES or len(data) > MAX_BYTES:
        raise ConfigError(
            f"{path}: cannot read {what}: {max(size, len(data)) / 2**20:.1f} MB, more than the "
            f"{MAX_BYTES // 2**20} MB a file read whole may have"
        )
    return data


def read_text(path: Path, what: str = "file") -> str:
    """A regular file read whole, as UTF-8 text."""
    return _decode(read_bytes(path, what), path, what, 0)


def read_json(path: Path, what: str = "file") -> Any:
    """A JSON file of plain data: finite numbers, nesting within MAX_DEPTH."""
    try:
        document = json.loads(read_text(path, what))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except ValueError as exc:  # a number of more digits than Python converts
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    return plain(document, str(path))


def plain(document: Any, source: str) -> Any:
    """`document` itself, once every number in it is finite and of a size JSON holds exactly,
    and it nests at most MAX_DEPTH lists and mappings deep. (A schema's bounds cannot say
    this: every comparison with NaN is false, so NaN passes them all.)"""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict | list) and len(where) >= MAX_DEPTH:
            raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{_at(source, where)}{value} is not a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ConfigError(
                f"{_at(source, where)}{shorten(str(value), 40)} is too large (at most 2**53)"
            )
        if isinstance(value, dict):
            stack.extend((item, (*where, key)) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*where, index)) for index, item in enumerate(value))
    return document


def csv_rows(
    path: Path, what: str = "file", needed: Iterable[str] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """A CSV file streamed: (line number, {column: value}) for each row under its header, which
    must have the `needed` columns. Each line is at most MAX_LINE bytes of UTF-8, each row as
    wide as the header; blank lines are skipped."""
    with _open(path, what) as file:
        reader = csv.reader(_lines(file, path, what))
        try:
            header = next(reader, None)
            if missing := [c for c in needed if c not in (header or ())]:
                raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
            for row in reader:
                if not row:
                    continue
                if header is None or len(row) != len(header):
                    raise ConfigError(
                        f"{path}: line {reader.line_num}: {len(row)} fields, expected "
                        f"{len(header or ())} as in the header"
                    )
                yield reader.line_num, dict(zip(header, row, strict=True))
        except csv.Error as exc:
            raise ConfigError(f"{path}: line {reader.line_num}: not CSV ({exc})") from None


def one_of(value: str, allowed: Iterable[str], column: str) -> str:
    """`value` of a column with a fixed vocabulary; ValueError names what was allowed."""
    words = tuple(allowed)
    if value not in words:
        raise ValueError(f"{column}: {shorten(value, 40)!r} is not one of {', '.join(words)}")
    return value


def shorten(text: str, limit: int = SHOWN) -> str:
    """`text` cut to about `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def json_path(parts: Iterable[Any]) -> str:
    """['routerSpec', 'modelSpec', 0, 'name'] -> 'routerSpec.modelSpec[0].name'."""
    out = ""
    for part in parts:
        name = shorten(str(part), 60)
        out += f"[{part}]" if type(part) is int else (f".{name}" if out else name)
    return out or "(top level)"


def _at(source: str, where: tuple[Any, ...]) -> str:
    return f"{source}: {json_path(where)}: " if where else f"{source}: "


def opened(path: Path, what: str = "file") -> BinaryIO:
    """A regular file opened for reading as bytes, for a reader that streams it under caps of
    its own (lab.traces)."""
    return _open(path, what)


def _open(path: Path, what: str) -> BinaryIO:
    """A regular file opened for reading. Its kind is checked before it is opened, and again
    on what was opened (opened without blocking): a FIFO would wait for a writer for ever, a
    device would never end."""
    try:
        _regular(os.stat(path).st_mode, path, what)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        _regular(os.fstat(fd).st_mode, path, what)
    except ConfigError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _regular(mode: int, path: Path, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket"}
    kind = next((name for test, name in kinds.items() if test(mode)), "a device")
    raise ConfigError(f"{path}: cannot read {what}: {kind}, not a regular file")


def _lines(file: BinaryIO, path: Path, what: str) -> Iterator[str]:
    """The file's lines as text, each checked for length and UTF-8 (naming its byte offset)."""
    offset = 0
    for number, line in enumerate(iter(lambda: file.readline(MAX_LINE + 1), b""), 1):
        if len(line) > MAX_LINE:
            raise ConfigError(
                f"{path}: line {number}: longer than {MAX_LINE // 2**10} KiB, "
                "more than any row the lab writes"
            )
        yield _decode(line, path, what, offset)
        offset += len(line)


def _decode(data: bytes, path: Path, what: str, offset: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1]
        raise ConfigError(
            f"{path}: cannot read {what}: not UTF-8 text (byte {offset + exc.start} is {bad!r})"
        ) from None
