"""The console's width: whole figures in logs, the terminal's own width in a terminal."""

from __future__ import annotations

import io

import pytest

from lab import console


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_width_that_keeps_a_compare_table_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert console._width(io.StringIO()) == console.LOG_WIDTH


def test_a_terminal_or_columns_keeps_its_own_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert console._width(Terminal()) is None
    monkeypatch.setenv("COLUMNS", "100")
    assert console._width(io.StringIO()) is None
