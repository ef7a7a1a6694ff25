"""Capacity under an SLO: the highest Poisson arrival rate at which the stack still meets it.

The search is a sequence of levels, each a Locust run of its own named by its rate: from
`start_rate`, the rate doubles while levels pass (halves while they fail, when the first one
does), then the bracket (last pass, first fail) is bisected, geometrically, until its upper end
is within `precision` of its lower end. A step starts only if it fits in the time budget.

A step whose verdict sampling noise could turn (it holds in fewer than `SURE` of the bootstrap
resamples below) decides the bracket on a toss: near the SLO's attainment, one short step's
share of good requests lands either side. Such a step is probed once more at the same rate,
as a level of its own (`rate<r>-again`), and the rate is judged on both probes' requests
together: twice the requests, about 1/sqrt(2) of the noise. The bracket takes each rate's
latest verdict.

A level passes when its requests meet the SLO (lab.config.slo). It says nothing of the stack
when the load generator was the limit, by the rule every level is judged by
(lab.results.summary.client_limit: requests sent late while the SLO held, or a Locust process
saturated). The search then stops and reports a lower bound, never the generator's limit as
the stack's capacity.

The interval reflects sampling noise at the boundary, within this run only: each rate's
verdict is decided again on block-bootstrap resamples of its requests (blocks of consecutive
requests, since queueing ties neighbours together); the interval runs from the highest rate
that passed in at least 97.5% of resamples to the lowest that failed in at least 97.5%. It
holds the bracket, and widens past a bracketing level whose verdict sampling noise could turn.
Run-to-run drift is not in it: repeat the runs for that.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from lab.config.kinds import CapacityScenario, Scenario
from lab.config.kinds import capacity as capacity_kind
from lab.config.kinds.plan import Level
from lab.config.slo import Slo
from lab.inproc.samples import CPU_FILE
from lab.results import summary
from lab.results.summary import Sample

KV_FULL = 0.9  # KV-cache usage at which an engine is about to queue or preempt for memory
QUEUED = 1.0  # requests waiting in the engines, on average over a level: they queue
CONFIDENCE = 0.95  # of the interval; each end is one-sided at half the rest
SURE = 0.9  # share of resamples below which a bracketing step's verdict is probed again
RESAMPLES = 2000
MIN_RATE = 0.01  # requests/s below which a search that never passed gives up
FIRST_STEP_OVERHEAD = 5.0  # seconds a step takes beyond its duration, until one was timed


@dataclass(frozen=True)
class Step:
    """One level of the search, judged."""

    level: str
    rate: float
    passed: bool  # met the SLO
    client_limited: str | None  # why the load generator was the limit (summary.client_limit)
    attainment: float | None
    error_rate: float
    confidence: float  # share of bootstrap resamples with the same verdict
    probe: int  # 1, or 2 when the rate was probed again: the verdict is then both probes'
    sent_rps: float  # requests the generator actually sent per second
    late_share: float  # requests sent over summary.LATE_MS late
    client_cpu_busiest: float | None  # the busiest Locust process, share of one core
    mean_waiting: float | None
    max_kv_cache_usage: float | None
    seconds: float  # wall clock the step took, Locust start and drain included


def wanted(scenario: Scenario) -> TypeGuard[CapacityScenario]:
    """Is this a capacity search (whose levels a Search plans as it goes)?"""
    return isinstance(scenario, CapacityScenario)


class Search:
    """Plans a capacity search's levels as their results come in: iterate it, run each level it
    yields, put the level's figures in `figures` (by level name) and its requests in
    `requests.csv`, as the scenario runner does for every level; then read `result()`."""

    def __init__(
        self,
        scenario: CapacityScenario,
        place: Path,
        figures: Mapping[str, dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert scenario.slo is not None  # the profile refuses a capacity scenario without one
        self.scenario = scenario
        self.slo: Slo = scenario.slo
        self.place = place
        self.figures = figures
        self.clock = clock
        self.began = clock()
        self.steps: list[Step] = []
        self.stopped = "cut short: the scenario failed or was interrupted"

    def __iter__(self) -> Iterator[Level]:
        rate: float | None = _round(self.scenario.start_rate)
        while rate is not None:
            if not self._fits():
                self.stopped = "time budget spent"
                return
            probe = 1 + sum(s.rate == rate for s in self.steps)
            level = capacity_kind.level(self.scenario, rate, again=probe > 1)
            started = self.clock()
            yield level
            step = self._judge(level, rate, probe, self.clock() - started)
            self.steps.append(step)
            if step.client_limited:
                self.stopped = "load generator could not offer more"
                return
            rate = step.rate if self._unsure(step) else self._next()

    def _unsure(self, step: Step) -> bool:
        """Is this first probe of a rate a bracket end whose verdict noise could turn?"""
        return step.probe == 1 and step.confidence < SURE and step.rate in self.bracket()

    def _fits(self) -> bool:
        longest = max(
            (s.seconds for s in self.steps), default=self.scenario.duration + FIRST_STEP_OVERHEAD
        )
        return self.clock() - self.began + longest <= self.scenario.budget

    def _next(self) -> float | None:
        """The next rate to try, or None (with the reason in `stopped`) when the search is done."""
        low, high = self.bracket()
        s = self.scenario
        if high is None:
            if low is not None and low >= s.max_rate:
                self.stopped = "max_rate met the SLO"
                return None
            return min(_round(2 * low), s.max_rate) if low is not None else None
        if low is None:
            lower = _round(high / 2)
            if lower < MIN_RATE:
                self.stopped = "no rate met the SLO"
                return None
            return lower
        middle = _round(math.sqrt(low * high))
        if self._within(low, high) or middle in (low, high):
            self.stopped = "precision reached"
            return None
        return middle

    def _within(self, low: float, high: float) -> bool:
        """Is the first failure within `precision` above the last pass?"""
        return high <= low * (1 + self.scenario.precision) * (1 + 1e-9)  # 1e-9: float rounding

    def _verdicts(self) -> list[Step]:
        """Each rate's latest step: a rate probed twice is judged on both probes together."""
        return list({s.rate: s for s in self.steps}.values())

    def bracket(self) -> tuple[float | None, float | None]:
        """(highest rate that passed, lowest that failed) among the rates the generator kept up
        with; the search only ever tries rates between them, so passes lie below failures."""
        judged = [s for s in self._verdicts() if not s.client_limited]
        low = max((s.rate for s in judged if s.passed), default=None)
        high = min((s.rate for s in judged if not s.passed), default=None)
        return low, high

    def _judge(self, level: Level, rate: float, probe: int, seconds: float) -> Step:
        """The step's verdict on the requests of every probe of its rate; the load generator,
        its lag and the engines' gauges are this probe's own."""
        figures = self.figures[level.name]
        probes = {s.level for s in self.steps if s.rate == rate} | {level.name}
        measured = [
            s
            for s in summary.read_samples(self.place / "requests.csv")
            if s.level in probes and s.measured
        ]
        own = [s for s in measured if s.level == level.name]
        pooled = summary.summarize(measured)
        attainment, error_rate = pooled["slo_attainment"], pooled["error_rate"]
        passed = self.slo.met(attainment, error_rate)
        cpu = summary.read_cpu(self.place / level.name / CPU_FILE)
        return Step(
            level=level.name,
            rate=rate,
            passed=passed,
            client_limited=summary.client_limit(own, cpu, passed),
            attainment=attainment,
            error_rate=error_rate,
            confidence=self._confidence(measured, passed, level.name),
            probe=probe,
            sent_rps=_sent_rate(own),
            late_share=summary.late_share(own),
            client_cpu_busiest=figures.get("client_cpu_busiest"),
            mean_waiting=figures.get("mean_waiting"),
            max_kv_cache_usage=figures.get("max_kv_cache_usage"),
            seconds=seconds,
        )

    def _confidence(self, samples: list[Sample], passed: bool, name: str) -> float:
        """Share of block-bootstrap resamples of the rate's requests whose verdict is the
        step's own."""
        ordered = sorted(samples, key=lambda s: s.start)
        if not ordered:
            return 1.0
        good = np.array([bool(s.slo_ok) for s in ordered], dtype=float)
        failed = np.array([not s.ok for s in ordered], dtype=float)
        size = max(1, round(math.sqrt(len(ordered))))
        starts = np.arange(0, len(ordered), size)
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        picks = rng.integers(0, len(starts), size=(RESAMPLES, len(starts)))
        blocks = [(good[i : i + size], failed[i : i + size]) for i in starts]
        sums = np.array([[g.sum(), f.sum(), g.size] for g, f in blocks])
        chosen = sums[picks].sum(axis=1)  # per resample: good, failed, requests
        same = [self.slo.met(g / n, f / n) == passed for g, f, n in chosen]
        return float(np.mean(same))

    def result(self) -> dict[str, Any]:
        """The search's outcome for summary.json: capacity, bracket, interval, what stopped it,
        the first limit reached, and every step."""
        low, high = self.bracket()
        limited = self.steps[-1] if self.steps and self.steps[-1].client_limited else None
        at_least = None
        if limited is not None:
            at_least = max(low or 0.0, limited.sent_rps if limited.passed else 0.0)
        elif high is None and low is not None:
            at_least = low
        capacity = low if limited is None and high is not None else None
        limit, limit_rate, detail = self._limit()
        return {
            "capacity_rps": capacity,
            "capacity_at_least_rps": at_least,
            "client_limited": limited is not None,
            "bracket": {"pass_rps": low, "fail_rps": high},
            "precision": self.scenario.precision,
            "within_precision": low is not None and high is not None and self._within(low, high),
            "interval": self._interval(),
            "stopped": self.stopped,
            "limit": limit,
            "limit_rps": limit_rate,
            "limit_detail": detail,
            "statement": self._statement(capacity, at_least, low, high, limited, limit),
            "slo": self.slo.to_json(),
            "elapsed_s": self.clock() - self.began,
            "steps": [asdict(s) for s in self.steps],
        }  # fmt: skip

    def _interval(self) -> dict[str, Any]:
        one_side = 1 - (1 - CONFIDENCE) / 2
        judged = [s for s in self._verdicts() if not s.client_limited]
        sure_pass = [s.rate for s in judged if s.passed and s.confidence >= one_side]
        sure_fail = [s.rate for s in judged if not s.passed and s.confidence >= one_side]
        return {
            "low_rps": max(sure_pass, default=None),
            "high_rps": min(sure_fail, default=None),
            "confidence": CONFIDENCE,
            "method": "block bootstrap of each level's SLO verdict (lab.load.capacity)",
            "scope": "within-run only: repeat runs for run-to-run drift",
        }

    def _limit(self) -> tuple[str | None, float | None, str]:
        """The first limit the rising load reached: the load generator, errors, the KV cache or
        the engines' queues, at the lowest rate where one showed; else, at the first failure,
        the engines' own latency (requests ran at once, but slower than the SLO allows)."""
        for step in sorted(self._verdicts(), key=lambda s: s.rate):
            found = _limit_of(step, self.slo)
            if found:
                return found[0], step.rate, found[1]
            if not step.passed:
                return (
                    "engine latency",
                    step.rate,
                    "requests ran without queueing or a full KV cache, yet slower than the SLO",
                )
        return None, None, ""

    def _statement(
        self,
        capacity: float | None,
        at_least: float | None,
        low: float | None,
        high: float | None,
        limited: Step | None,
        limit: str | None,
    ) -> str:
        if limited is not None:
            return (
                f"capacity at least {at_least:g} req/s: the load generator could not offer more "
                f"({limited.rate:g} req/s asked, {limited.sent_rps:.3g} sent)"
            )
        if high is None:
            if low is None:
                return f"no capacity found: {self.stopped}"
            return f"capacity at least {low:g} req/s: every rate tried met the SLO ({self.stopped})"
        if low is None:
            return f"capacity below {high:g} req/s: no rate tried met the SLO ({self.stopped})"
        width = "within" if self._within(low, high) else "not within"
        return (
            f"capacity {capacity:g} req/s (bracket {low:g} to {high:g}, {width} "
            f"{self.scenario.precision:.0%}; {self.stopped}); first limit: {limit}"
        )


def _limit_of(step: Step, slo: Slo) -> tuple[str, str] | None:
    if step.client_limited:
        return "load generator", step.client_limited
    if step.error_rate > slo.max_error_rate:
        return "errors", f"error rate {step.error_rate:.1%} above {slo.max_error_rate:.1%}"
    if step.max_kv_cache_usage is not None and step.max_kv_cache_usage >= KV_FULL:
        return "KV cache", f"KV-cache usage reached {step.max_kv_cache_usage:.0%}"
    if step.mean_waiting is not None and step.mean_waiting >= QUEUED:
        return "engine queue", f"{step.mean_waiting:.1f} requests waiting in the engines on average"
    return None


def _sent_rate(samples: list[Sample]) -> float:
    """Requests the generator sent per second, over the span of their start times."""
    if len(samples) < 2:
        return 0.0
    starts = [s.start for s in samples]
    span = max(starts) - min(starts)
    return (len(samples) - 1) / span if span > 0 else 0.0


def _round(rate: float) -> float:
    """Three significant digits: level names stay short, and bisection ends on the grid."""
    return float(f"{rate:.3g}")
