"""Terminal output: one console for progress and results (stdout), one for errors (stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def say(message: str) -> None:
    """A line of progress; plain text (no markup is interpreted)."""
    out.print(escape(message))


def ok(message: str) -> None:
    out.print(f"✅ {escape(message)}")


def bad(message: str) -> None:
    out.print(f"❌ {escape(message)}")


def note(message: str) -> None:
    out.print(f"[dim]ℹ️  {escape(message)}[/]")
