"""The vocabulary of outcomes every command uses: verdicts with their reasons, exit statuses."""

from __future__ import annotations

import pytest

from lab.compare import outcomes
from lab.compare.outcomes import Verdict

WORSE, SAME = Verdict(outcomes.WORSE), Verdict(outcomes.SAME)
NA = outcomes.na(outcomes.NO_REQUESTS)
UNSURE = outcomes.inconclusive(outcomes.NOISE_UNKNOWN)


def test_verdicts_read_as_words_with_their_reasons() -> None:
    assert str(WORSE) == "worse" and str(SAME) == "no significant change"
    assert str(NA) == "n/a (no requests)"
    assert str(outcomes.na("client_limited")) == "n/a (client_limited)"
    assert str(UNSURE) == (
        "inconclusive: run-to-run noise unknown (run calibrate, or compare folders of runs)"
    )


@pytest.mark.parametrize(
    ("word", "reason", "message"),
    [("worst", "", "unknown verdict 'worst'"), ("n/a", "", "needs its reason")],
)
def test_a_verdict_outside_the_vocabulary_is_a_programming_error(word, reason, message) -> None:
    with pytest.raises(ValueError, match=message):
        Verdict(word, reason)


@pytest.mark.parametrize(
    ("verdicts", "status"),
    [
        ([SAME, WORSE, NA], outcomes.REGRESSION),  # one gated regression fails the gate
        ([SAME, UNSURE, NA], outcomes.OK),  # inconclusive and n/a never fail it
        ([UNSURE, UNSURE], outcomes.OK),  # measured, though not judgeable: not "nothing"
        ([NA, NA], outcomes.NOTHING_TO_GATE),  # nothing measurable: 3, never 0
        ([], outcomes.NOTHING_TO_GATE),
    ],
)
def test_the_gate_status(verdicts, status) -> None:
    assert outcomes.gate_status(verdicts) == status


def test_exit_statuses_are_distinct_and_2_is_the_config_errors() -> None:
    from lab.errors import ConfigError

    codes = (outcomes.OK, outcomes.REGRESSION, outcomes.UNUSABLE, outcomes.NOTHING_TO_GATE)
    assert codes == (0, 1, 2, 3)
    assert ConfigError("x").exit_code == outcomes.UNUSABLE
