"""The console's width (whole figures in logs, the terminal's own width in a terminal, any
COLUMNS still readable) and control characters from inputs shown, never obeyed."""

from __future__ import annotations

import io

import pytest

from lab import console
from tests.helpers.lab import lab_main
from tests.helpers.runs import RR1, copy, keep_only


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
    assert console._width(Terminal()) == console.TERMINAL_WIDTH  # one that does not say its size
    monkeypatch.setenv("COLUMNS", "130")
    assert console._width(io.StringIO()) == 130
    assert console._width(Terminal()) == 130


@pytest.mark.parametrize("columns", ["0", "-3", "junk", "²", ""])
def test_columns_that_is_no_width_is_ignored(monkeypatch: pytest.MonkeyPatch, columns) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert console._width(io.StringIO()) == console.LOG_WIDTH


def test_a_narrow_columns_keeps_a_readable_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1")
    assert console._width(io.StringIO()) == console.MIN_WIDTH


@pytest.mark.parametrize("columns", ["0", "1", "-3", "junk"])
def test_any_columns_prints_every_error(tmp_path, columns: str) -> None:
    """COLUMNS=0 once printed nothing at all, not even errors."""
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\nfirst: 1\nsecond: 2\n")
    env = {"COLUMNS": columns}
    refused = lab_main("values", "--profile", str(profile), state_dir=tmp_path, env=env)
    assert refused.returncode == 2
    first, second = refused.stderr.splitlines()
    assert first.startswith(f"error: {profile}: first: unknown key; expected one of: description")
    assert second.startswith(f"error: {profile}: second: unknown key")


@pytest.mark.parametrize("columns", ["0", "1"])
def test_any_columns_prints_a_table_with_whole_figures(tmp_path, columns: str) -> None:
    run = keep_only(copy(RR1, tmp_path / "run"), "routing")
    done = lab_main(
        "compare", str(run), str(run), "--metrics", "ttft_p50,e2e_p90", "--out",
        str(tmp_path / "o"), state_dir=tmp_path, env={"COLUMNS": columns},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.lstrip().startswith(("ttft", "e2e"))]
    assert len(rows) == 2
    for row in rows:  # every cell whole, not cut to "…" (a 90% CI is written low…high)
        assert row.count("…") == 1 and row.rstrip().endswith("~"), row


def test_control_characters_are_shown_as_escapes() -> None:
    said = console.printable("\x1b[31mred\x1b]0;title\x07 \u202eevil\r\tok\nnext", lines=False)
    assert said == "\\x1b[31mred\\x1b]0;title\\x07 \\u202eevil\\r\tok\\nnext"
    assert console.printable("two\nlines") == "two\nlines"
    assert console.printable("plain: ünïcode ✅ ℹ️") == "plain: ünïcode ✅ ℹ️"
