"""The one vocabulary of outcomes, for every command that judges measurements: a verdict per
metric, and an exit status per command.

Verdicts:
  better, worse            a significant change beyond the metric's threshold, in that direction
  no significant change    no change the measurements can tell from noise (or one within the
                           threshold)
  inconclusive: REASON     measured on both sides, but not judgeable (e.g. run-to-run noise
                           unknown)
  n/a (REASON)             not measured on a side (e.g. "no requests", "client_limited")

Exit statuses: 0 no gated regression; 1 a gated regression; 2 unusable input, nothing
written; 3 nothing measurable to gate (every gated metric n/a). Inconclusive and n/a never
fail a gate, and are always listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BETTER = "better"
WORSE = "worse"
SAME = "no significant change"
INCONCLUSIVE = "inconclusive"
NA = "n/a"
WORDS = (BETTER, WORSE, SAME, INCONCLUSIVE, NA)

# Reasons used here; other commands add their own (a reason is free text, short, lower case).
NO_REQUESTS = "no requests"
CLIENT_LIMITED = "client_limited"  # the load generator was the limit (lab.results.summary)
NOISE_UNKNOWN = "run-to-run noise unknown (run calibrate, or compare folders of runs)"
# A capacity search's capacity_rps (lab.compare.capacity): why a run has none to compare (or
# CLIENT_LIMITED, as for a level).
NOT_BRACKETED = "search did not bracket the capacity"
INTERVAL_OPEN = "capacity interval open (no step sure to pass, or none sure to fail)"
NO_CAPACITY = "no capacity result in summary.json"
SLO_DIFFERS = "SLOs differ: capacities under different SLOs do not compare"

OK = 0  # no gated regression
REGRESSION = 1  # a gated metric is worse
UNUSABLE = 2  # unusable input, refused before anything was written (lab.errors.ConfigError)
NOTHING_TO_GATE = 3  # every gated metric n/a: nothing measurable to judge


@dataclass(frozen=True)
class Verdict:
    """A verdict word, and for inconclusive and n/a the reason."""

    word: str
    reason: str = ""

    def __post_init__(self) -> None:
        if self.word not in WORDS:
            raise ValueError(f"unknown verdict {self.word!r}; verdicts are {', '.join(WORDS)}")
        if self.word in (INCONCLUSIVE, NA) and not self.reason:
            raise ValueError(f"a verdict {self.word!r} needs its reason")

    def __str__(self) -> str:
        if self.word == NA:
            return f"n/a ({self.reason})"
        if self.word == INCONCLUSIVE:
            return f"inconclusive: {self.reason}"
        return self.word

    @property
    def fails_gate(self) -> bool:
        return self.word == WORSE


def na(reason: str) -> Verdict:
    return Verdict(NA, reason)


def inconclusive(reason: str) -> Verdict:
    return Verdict(INCONCLUSIVE, reason)


def gate_status(gated: Iterable[Verdict]) -> int:
    """The exit status of a gate over these verdicts: 1 if any is worse, 3 if there is nothing
    measurable (none, or every one n/a), else 0. Inconclusive never fails a gate."""
    verdicts = list(gated)
    if any(v.fails_gate for v in verdicts):
        return REGRESSION
    if all(v.word == NA for v in verdicts):
        return NOTHING_TO_GATE
    return OK
