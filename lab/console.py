"""Terminal output: one console for progress and results (stdout), one for errors (stderr).

Text from inputs (a YAML key, a path, a name in a manifest) reaches the terminal through
`printable`: its control characters are shown as escapes, never obeyed."""

from __future__ import annotations

import os
import re
import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape

# Written to a file or a CI log, output keeps whole numbers: rich would otherwise fit tables to
# 80 columns and cut their figures to "310…". A terminal, or COLUMNS, keeps its own width.
LOG_WIDTH = 200
# Narrower than this, a comparison table cuts its figures to "…": a smaller COLUMNS (1, say)
# gets this width, and the terminal wraps the longer lines rather than the table losing them.
MIN_WIDTH = 100
TERMINAL_WIDTH = 80  # a terminal that does not say its size
HEIGHT = 25  # nothing the lab prints pages or fills the screen

# C0 and C1 control characters (ESC starts the sequences that recolour, move the cursor or
# retitle a terminal; CR overwrites a line) and the bidirectional overrides that reorder what
# is shown. A line break is kept where a message may span lines, and a tab always.
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ONE_LINE = re.compile(f"[\n{_CONTROL}]")
_LINES = re.compile(f"[{_CONTROL}]")


def printable(text: str, lines: bool = True) -> str:
    """`text` with its control characters shown as escapes (ESC as \\x1b); with `lines` False,
    a line break too, so that a name read from a file cannot start a line of its own."""
    pattern = _LINES if lines else _ONE_LINE
    return pattern.sub(lambda found: repr(found.group())[1:-1], text)


def _columns() -> int | None:
    """COLUMNS when it is a positive whole number; 0, a negative number or junk say nothing."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        return None
    return columns if columns > 0 else None


def _width(stream: TextIO) -> int:
    """COLUMNS (at least MIN_WIDTH), else a terminal's own width, else LOG_WIDTH. Always a
    number: rich would take COLUMNS=0 as a width of 0 and print nothing, not even errors."""
    if (columns := _columns()) is not None:
        return max(columns, MIN_WIDTH)
    if not stream.isatty():
        return LOG_WIDTH
    try:
        return os.get_terminal_size(stream.fileno()).columns or TERMINAL_WIDTH
    except (OSError, ValueError):
        return TERMINAL_WIDTH


# The stream is looked up at each print (no file= given), so that redirections still apply.
# A height given too, so that rich never reads COLUMNS or LINES itself (it fails on "²").
out = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout), height=HEIGHT)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr), height=HEIGHT)


def fit() -> None:
    """Both consoles' widths from COLUMNS and the streams as they are now (the CLI calls it
    first, so that a width set after import, or a redirection, is honoured)."""
    out.width, err.width = _width(sys.stdout), _width(sys.stderr)


def say(message: str) -> None:
    """A line of progress; plain text (no markup is interpreted)."""
    out.print(plain(message))


def ok(message: str) -> None:
    out.print(f"✅ {plain(message)}")


def bad(message: str) -> None:
    out.print(f"❌ {plain(message)}")


def note(message: str) -> None:
    out.print(f"[dim]ℹ️  {plain(message)}[/]")


def warn(message: str) -> None:
    """A warning on stderr: one line, whatever the message holds."""
    err.print(f"[yellow]warning:[/] {plain(message, lines=False)}")


def error(message: str, lines: bool = False) -> None:
    """An error on stderr; one line unless `lines` (a failed command's output, indented)."""
    err.print(f"[red]error:[/] {plain(message, lines)}")


def plain(message: str, lines: bool = True) -> str:
    """`message` as rich prints it unchanged: no markup interpreted, control characters shown
    as escapes (for text from inputs inside a table or a styled line)."""
    return escape(printable(message, lines))
