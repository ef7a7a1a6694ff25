"""The one guarded way to read a file (lab.files): its caps at their edges, and what a stream
reader names when a file breaks them."""

from __future__ import annotations

import json
import os

import pytest

from lab import files
from lab.config.validation import parse_yaml
from lab.errors import ConfigError


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_is_read_up_to_its_cap_and_refused_beyond(tmp_path) -> None:
    path = tmp_path / "n.json"
    path.write_text(nested(files.MAX_DEPTH))
    files.read_json(path)
    path.write_text(nested(files.MAX_DEPTH + 1))
    with pytest.raises(ConfigError, match="nested deeper than 64 levels"):
        files.read_json(path)
    parse_yaml(f"a: {nested(files.MAX_DEPTH - 1)}", "y")  # in a mapping: one level more
    with pytest.raises(ConfigError, match="y: line 1, column 67: nested deeper than 64 levels"):
        parse_yaml(f"a: {nested(files.MAX_DEPTH)}", "y")


def test_whole_numbers_are_read_up_to_two_to_the_53(tmp_path) -> None:
    path = tmp_path / "n.json"
    path.write_text(json.dumps({"a": [2**53, -(2**53)]}))
    assert files.read_json(path) == {"a": [2**53, -(2**53)]}
    path.write_text(json.dumps({"a": [0, 2**53 + 1]}))
    with pytest.raises(ConfigError, match=r"n.json: a\[1\]: 9007199254740993 is too large"):
        files.read_json(path)


def test_a_file_read_whole_may_have_four_megabytes(tmp_path) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps("x" * (files.MAX_BYTES - 2)))
    assert len(files.read_json(path)) == files.MAX_BYTES - 2
    path.write_text(json.dumps("x" * (files.MAX_BYTES - 1)))
    with pytest.raises(ConfigError, match=r"4\.0 MB, more than the 4 MB"):
        files.read_json(path)


def test_a_fifo_behind_a_link_is_refused_without_waiting(tmp_path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link.json").symlink_to(tmp_path / "fifo")
    with pytest.raises(ConfigError, match=r"link\.json: cannot read state: a FIFO"):
        files.read_json(tmp_path / "link.json", "state")


def test_a_stream_names_the_byte_that_is_not_utf8_across_lines(tmp_path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"a,b\n1,2\n3,\xff\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 10 is b'\\xff'\)"):
        list(files.csv_rows(path, "r.csv"))


def test_a_quoted_field_over_many_short_lines_is_one_clear_error(tmp_path) -> None:
    """Each line is short, but the field they make exceeds what csv reads in one field."""
    path = tmp_path / "r.csv"
    path.write_text('a,b\n1,"' + "x\n" * 70_000 + '"\n')
    with pytest.raises(ConfigError, match=r"r.csv: line \d+: not CSV \(field larger than"):
        list(files.csv_rows(path, "r.csv"))


def test_rows_come_with_their_line_and_blank_lines_are_skipped(tmp_path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n\n3,4\n")
    assert list(files.csv_rows(path, "r.csv", ("a",))) == [
        (2, {"a": "1", "b": "2"}),
        (4, {"a": "3", "b": "4"}),
    ]
    with pytest.raises(ConfigError, match=r"r\.csv: missing column"):
        list(files.csv_rows(path, "r.csv", ("c",)))
