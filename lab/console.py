"""Terminal output: one console for progress and results (stdout), one for errors (stderr)."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape

# Written to a file or a CI log, output keeps whole numbers: rich would otherwise fit tables to
# 80 columns and cut their figures to "310…". A terminal, or COLUMNS, keeps its own width.
LOG_WIDTH = 200


def _width(stream: TextIO) -> int | None:
    return LOG_WIDTH if not stream.isatty() and "COLUMNS" not in os.environ else None


# The stream is looked up at each print (no file= given), so that redirections still apply.
out = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def say(message: str) -> None:
    """A line of progress; plain text (no markup is interpreted)."""
    out.print(escape(message))


def ok(message: str) -> None:
    out.print(f"✅ {escape(message)}")


def bad(message: str) -> None:
    out.print(f"❌ {escape(message)}")


def note(message: str) -> None:
    out.print(f"[dim]ℹ️  {escape(message)}[/]")
