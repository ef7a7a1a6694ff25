"""The report's table of a replay level against its trace."""

from __future__ import annotations

from lab.results import replay_figures


def test_the_table_shows_each_replay_level_and_nothing_for_other_kinds() -> None:
    kept = replay_figures.figures(2.05, 2.0, 0.594, None)
    html = replay_figures.section({"timed": {"replay": kept}, "other": {"requests": 3}})
    assert "<td>timed</td><td>2.05</td><td>2.00</td><td>59.4%</td><td>-</td>" in html
    assert "other" not in html
    assert replay_figures.section({"c1": {"requests": 3}}) == ""


def test_what_is_not_a_number_is_shown_as_text_never_as_markup() -> None:
    html = replay_figures.section({"timed": {"replay": {"sent_rps": "<b>x</b>"}}})
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html
