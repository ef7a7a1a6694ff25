"""What a rate can say. Those that are counts, error rate and SLO attainment, are judged by
Fisher's exact test on each side's counts, one-sided in the direction of the change; and any
rate's detectable change is capped at what the rate can move.

Each is a share of units (requests; on routing levels conversations, as lab.compare.metrics
resamples them) that failed, or met the SLO. The counts say how sure a change is where a
bootstrap cannot: a run whose every unit failed, or none did, resamples to itself and shows
no spread, so a stack whose every request failed passed the gate as "no spread to judge by".

Single runs are judged by their counts. Folders of runs, and runs with a noise profile, keep
the t-test on the per-run rates, which carries the drift between runs; where those rates have
no spread on either side nor in the profile (every run all-ok or all-failed, or copies of one
run), there is no drift to carry, and each side's counts are pooled and judged as a single
run's are. The other rates (hit rate, stickiness, balance) are not counts of units and get no
such test.

A side with no successful request, where the other had some, is worse on the error rate
whatever a test says: a gate must never pass a stack that answered nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from scipy.stats import fisher_exact

from lab.compare import outcomes
from lab.compare.metrics import Metric
from lab.compare.outcomes import Verdict
from lab.compare.stats import WITHIN_ONLY, Change, Estimate, Source

VERB = {"errors": "failed", "slo": "met the SLO"}  # what a counted unit did, per family
FAMILIES = tuple(VERB)
TEST = "Fisher's exact on counts"
# A rate's run-to-run variance below this is none (a variance of equal rates rounds to ~1e-35).
STEADY = 1e-12


def judged(
    metric: Metric,
    change: Change,
    a: list[Estimate],
    b: list[Estimate],
    sources: Sequence[Source],
) -> tuple[Change, str]:
    """The change of a count rate, and its counts in words ("" when they were not used).
    Single runs with nothing known of run-to-run noise are judged by Fisher's test on their
    counts, in place of the bootstrap's t; so are runs whose rates show no spread at all,
    neither on either side nor in the sources of run-to-run noise (a noise profile), on each
    side's pooled counts; others as tested (t). A table on which no p below 1 can come out (no
    unit counted on either side, or every one) stays untested: such a test adds nothing to
    Holm's family (Tarone)."""
    steady = _same(a) and _same(b) and all(s.var < STEADY for s in sources)
    if metric.family not in FAMILIES or not steady:
        return change, ""
    if any(e.counts is None for e in (*a, *b)):
        return change, ""
    (k_a, n_a), (k_b, n_b) = _pooled(a), _pooled(b)
    if k_a + k_b in (0, n_a + n_b):
        return change, ""
    table = [[k_b, n_b - k_b], [k_a, n_a - k_a]]
    p_up = float(fisher_exact(table, alternative="greater").pvalue)
    p_down = float(fisher_exact(table, alternative="less").pvalue)
    single = len(a) == len(b) == 1 and not sources
    noise = WITHIN_ONLY if single else (
        f"counts pooled over A's {len(a)} and B's {len(b)} runs (no spread between runs)"
    )  # fmt: skip
    exact = replace(change, p_up=p_up, p_down=p_down, untestable="", noise=noise, exact=True)
    said = f"Fisher: A {k_a} of {n_a}, B {k_b} of {n_b} {VERB[metric.family]}"
    return exact, said


def dead_side(metric: Metric, a: list[Estimate], b: list[Estimate]) -> str:
    """The side ("A" or "B") whose every measured request failed, for the error rate, where the
    other side's did not; "" otherwise."""
    if metric.family != "errors":
        return ""
    dead_a, dead_b = (all(e.value == 1 for e in side) for side in (a, b))
    return "B" if dead_b and not dead_a else "A" if dead_a and not dead_b else ""


def dead(metric: Metric, d: float, side: str) -> Verdict:
    """The verdict where `side` had no successful request (dead_side): that side is worse."""
    worse = (d > 0) != metric.higher_is_better
    return Verdict(
        outcomes.WORSE if worse else outcomes.BETTER, f"{side} had no successful request"
    )


def capped(metric: Metric, a: float, reach: float) -> float:
    """A detectable change (points for a rate), infinite, "not detectable at this size", where a
    rate could not move that far from A's figure, towards 0 or 100%, whichever is further."""
    if metric.rate and reach > 100 * max(a, 1 - a):
        return math.inf
    return reach


def _same(side: list[Estimate]) -> bool:
    """Every run of the side has the same rate: their spread is no estimate of drift."""
    return len({e.value for e in side}) == 1


def _pooled(side: list[Estimate]) -> tuple[int, int]:
    counts = [e.counts for e in side if e.counts is not None]
    return sum(k for k, _ in counts), sum(n for _, n in counts)
