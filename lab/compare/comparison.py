"""Compare two runs, or two sets of repeated runs: per scenario, level and metric, how B differs
from A, how sure that is, and a verdict in lab.compare.outcomes' vocabulary; and the gate's
decision over the gated metrics, with Holm's correction (lab.compare.gate).

Each run's figure of a metric carries its own sampling noise (lab.compare.estimates); the
difference of the two sides also carries run-to-run drift, estimated from the sides' repeated
runs and from a noise profile (lab.compare.noise); side-by-side repetitions (ab --concurrent)
are compared as pairs instead. A change is better or worse when it is
significant (for a gated metric after Holm's correction over the whole gate, for the others at
alpha on its own) and beyond the metric's threshold. Without any estimate of run-to-run noise
(one run a side, no noise profile) only the runs' own sampling noise is known: a change that
is significant on that alone is judged only beyond a conservative floor (FLOOR_RATIO,
FLOOR_POINTS), and below it is inconclusive. Error rate and SLO attainment are judged by their
counts where the runs show no spread (lab.compare.rates).
Rendering is lab.compare.report's; orchestration lab.compare.run's; this module only computes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from lab.compare import capacity, estimates, failures, gate, outcomes, rates, runsets, stats
from lab.compare.metrics import LevelData, Metric
from lab.compare.noise import NoiseProfile
from lab.compare.outcomes import Verdict
from lab.compare.runsets import Run, RunSet, Unit
from lab.errors import ConfigError
from lab.results import summary

ALPHA = 0.05
# Without run-to-run noise, verdicts only beyond these: ten times or a tenth, or 5 points for
# rates. Ten real runs of the unchanged cpu profile on the shared development machine (load
# average 1 to 28) differed by up to ×5.5 (rate8 TTFT p50): a ×2 floor failed 31 of their 45
# pairs, ×4 still 8; ×10 keeps only what no drift explains (an engine fallen back to a slow
# path, a level gone wrong). No rate differed by 5 points among them.
FLOOR_RATIO = 10.0
FLOOR_POINTS = 5.0
WITHIN_ONLY = stats.WITHIN_ONLY
# Side by side the machine's drift falls on both arms alike, but each arm's own queue does not: in
# ten real trials with +20% TTFT on B (docs/measurements/ab-side-by-side.md) the routing level's
# TTFT p90 came out anywhere from -29% to +294%, seven of its 90% intervals leaving +20% out, one
# calling B better. So the repetitions are the units, each a pair (stats.paired); a single one is
# judged as any single run is.
SIDE_BY_SIDE = (
    "A and B ran side by side (ab --concurrent): each repetition is a pair, so what slowed the "
    "machine during it cancels, and the spread of the pairs' differences (how each arm's own "
    "queueing went) is the noise; one repetition cannot show that spread and is judged as "
    "single runs are (--repeat 3 or more to judge)"
)
SIDE_BY_SIDE_PAIRS = "side-by-side repetitions"
# The arm that comes up first has its engines loaded longer and takes the lower ports, and in real
# side-by-side A/As that mattered: with A always first, B's c4 TTFT p50 came out 6% low in each of
# four designs of ten pairs (t = -3.8 over the 40); with the order swapped every repetition, the arm
# up first was 16% slower there in one +20% design and 8% faster in an A/A
# (docs/measurements/ab-side-by-side.md). Swapping cancels it whatever its sign, and judging the
# pairs as a crossover keeps it out of their spread too. Runs made turn about (A B, B A, ...) are
# the same design: a drift steady over a pair makes whichever ran second slower, and cancels the
# same way.
CROSSOVER = (
    "which arm {went} alternated: the pairs are judged as an AB/BA crossover, each order's "
    "mean difference counting half, so what going first does to an arm cancels and stays out "
    "of the spread (df = pairs - 2)"
)
# Runs made turn about share the machine's slow drift with their neighbours: in 24 alternating pairs
# of one stack (docs/measurements/scenarios.md, "Two processes against one"), neighbours' TPOT p50
# correlated at 0.84 while it drifted from 4.2 to 2.3 ms over the series, and pairing them narrowed
# the interval of the change from [-5%, +15%] to [+0.4%, +8.7%].
PAIRED_IN_ORDER = "turns of A and B in start order"


@dataclass(frozen=True)
class Options:
    """What to compare and how to judge it."""

    metrics: tuple[Metric, ...]
    gate: gate.Gate
    thresholds: dict[str, float]
    alpha: float = ALPHA
    noise: NoiseProfile | None = None
    correct: bool = True  # Holm over the gated metrics (off only to measure the old gate)
    floor: bool = True  # noise unknown: judge only beyond the floor (off: the old gate)
    # What pairs the sides' runs, in the same order: side-by-side repetitions (found in their
    # manifests), or runs made turn about (compare --paired); "" for unpaired runs.
    pairing: str = ""
    # Pair by pair, which arm went first (side by side: came up first, "" where a run does not
    # say; --paired: started first): where it alternated, the pairs are judged as a crossover
    # (stats.paired).
    orders: tuple[str, ...] = ()
    n_boot: int = stats.N_BOOT

    def threshold(self, metric: Metric) -> float:
        return self.thresholds.get(metric.name, metric.threshold)


@dataclass(frozen=True)
class Assessed:
    """A metric of a level before the gate's correction: its change, or why it has none."""

    unit: Unit
    metric: Metric
    gated: bool
    change: stats.Change | None
    missing: str  # the n/a reason when change is None
    method: str
    n_a: int
    n_b: int
    dead: str = ""  # the side with no successful request where the other had some (rates)


@dataclass(frozen=True)
class Row:
    unit: Unit
    metric: Metric
    gated: bool
    change: stats.Change | None  # None: n/a
    threshold: float
    verdict: Verdict
    significant: bool  # after Holm's correction when gated
    beyond: bool  # beyond the threshold
    p: float | None  # one-sided, in the direction of the change (1 when there is none)
    p_adjusted: float | None  # Holm-adjusted p (gated rows)
    method: str
    n_a: int
    n_b: int
    reach: float | None = None  # smallest change found 95% of the time, in size()'s unit


@dataclass
class Comparison:
    a: RunSet
    b: RunSet
    options: Options
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ttft: dict[Unit, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def alpha(self) -> float:
        return self.options.alpha

    @property
    def gated(self) -> list[Row]:
        return [r for r in self.rows if r.gated]

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.gated if r.verdict.fails_gate]

    @property
    def tested(self) -> int:
        """Gated metrics × levels in Holm's family (those with a test)."""
        return sum(1 for r in self.gated if r.p_adjusted is not None)

    def status(self) -> int:
        """The gate's exit status (lab.compare.outcomes)."""
        return outcomes.gate_status(r.verdict for r in self.gated)

    def noise(self) -> str:
        """Where the run-to-run noise of this comparison came from, in words."""
        used = sorted({r.change.noise for r in self.rows if r.change and r.change.p_up is not None})
        if not used:
            return "none measurable"
        if used == [WITHIN_ONLY] and self.options.floor:
            return (
                "unknown: one run a side and no noise profile, so only the runs' own sampling "
                f"noise is known; changes are judged only beyond ×{FLOOR_RATIO:g} "
                f"(÷{FLOOR_RATIO:g}) or {FLOOR_POINTS:g} points, smaller ones are inconclusive"
            )
        return "; ".join(used)


def compare(a: RunSet, b: RunSet, options: Options) -> Comparison:
    """Every metric of every level both sides have. Raises ConfigError for unusable input."""
    if not 0 < options.alpha < 0.5:
        raise ConfigError(f"--alpha {options.alpha}: must be between 0 and 0.5")
    units, notes = runsets.common_units(a, b)
    if side_by_side(a, b):
        a, b = (_by_repetition(side) for side in (a, b))
        orders = tuple((run.manifest.ab or {}).get("first", "") for run in a.runs)
        options = dataclasses.replace(options, pairing=SIDE_BY_SIDE_PAIRS, orders=orders)
        notes.append(SIDE_BY_SIDE)
        notes += _crossover_note(orders, "came up first")
    elif options.pairing:
        a, b = _in_start_order(a, b)
        orders = tuple(_which_started_first(ra, rb) for ra, rb in zip(a.runs, b.runs, strict=True))
        options = dataclasses.replace(options, orders=orders)
        notes.append(
            f"--paired: run i of A against run i of B in the order they started, "
            f"{len(a.runs)} pairs; what drifted slower than a pair cancels within it"
        )
        notes += _crossover_note(orders, "ran first")
    result = Comparison(a, b, options, notes=notes)
    result.notes += _profile_notes(a, b, options.noise)
    assessed: list[Assessed] = []
    own = _own_sources(a, b, options.noise)
    for unit in units:
        levels_a, levels_b = runsets.levels(a, unit), runsets.levels(b, unit)
        hits = estimates.per_request_hits(levels_a + levels_b)
        side_a, side_b = (
            estimates.side_figures(side, unit, options.metrics, hits, options.n_boot)
            for side in (a, b)
        )
        result.notes += _empty(unit, a, side_a) + _empty(unit, b, side_b)
        result.notes += _client_limited(unit, a) + _client_limited(unit, b)
        result.notes += failures.note(unit, levels_a, levels_b)
        per_level = [m for m in options.metrics if m.per_level]
        assessed += [assess(unit, m, side_a, side_b, options, own) for m in per_level]
        if any(m.family == "ttft" for m in options.metrics):
            result.ttft[unit] = (_pooled_ttft(levels_a), _pooled_ttft(levels_b))
    assessed += _searches(a, b, options, own, result.notes)
    result.rows = judge(assessed, options)
    return result


def _searches(
    a: RunSet, b: RunSet, options: Options, own: tuple[bool, bool], notes: list[str]
) -> list[Assessed]:
    """The metrics of whole capacity searches (lab.compare.capacity), one unit per search both
    sides ran; notes say what made any n/a."""
    chosen = [m for m in options.metrics if not m.per_level]
    if not chosen:
        return []
    assessed = []
    for unit in capacity.common(a, b):
        side_a, side_b, said = capacity.figures(a, b, unit)
        notes += said
        assessed += [assess(unit, m, side_a, side_b, options, own) for m in chosen]
    return assessed


def side_by_side(a: RunSet, b: RunSet) -> bool:
    """Are A and B the two arms of the same `ab --concurrent` runs (one load spread over both at
    once, lab.load.concurrent), each run of A beside the run of B it shared its time with?"""

    arm_a = runsets.side_by_side_arm(a)
    return arm_a is not None and arm_a[0] == "A" and runsets.side_by_side_arm(b) == ("B", arm_a[1])


def _crossover_note(orders: tuple[str, ...], went: str) -> list[str]:
    if not stats.is_crossover(orders):
        return []
    counts = ", ".join(f"{label} in {orders.count(label)}" for label in sorted(set(orders)))
    return [f"{CROSSOVER.format(went=went)}; {went}: {counts} pairs"]


def _which_started_first(a: Run, b: Run) -> str:
    return "A" if _started(a) <= _started(b) else "B"


def _started(run: Run) -> datetime:
    return datetime.fromisoformat(run.manifest.started)


def _by_repetition(side: RunSet) -> RunSet:
    """The side's runs in the order of the side-by-side repetitions they belong to."""
    ordered = sorted(side.runs, key=lambda run: (run.manifest.ab or {})["mixed"])
    return dataclasses.replace(side, runs=tuple(ordered))


def _in_start_order(a: RunSet, b: RunSet) -> tuple[RunSet, RunSet]:
    """Both sides' runs in the order they started, as pairs; ConfigError unless each side has
    as many runs, two or more."""
    if len(a.runs) != len(b.runs) or len(a.runs) < 2:
        raise ConfigError(
            f"--paired: pairs need as many runs on each side, at least 2: {a.path} has "
            f"{len(a.runs)}, {b.path} has {len(b.runs)}"
        )

    def ordered(side: RunSet) -> RunSet:
        runs = sorted(side.runs, key=_started)
        return dataclasses.replace(side, runs=tuple(runs))

    return ordered(a), ordered(b)


def _own_sources(a: RunSet, b: RunSet, profile: NoiseProfile | None) -> tuple[bool, bool]:
    """Whether each side's repeated runs count as a source of run-to-run noise: not when they
    are among the noise profile's own runs (they would count twice)."""
    made_of = profile.run_folders() if profile else set()

    def own(side: RunSet) -> bool:
        return not made_of & {run.folder.resolve() for run in side.runs}

    return own(a), own(b)


def _profile_notes(a: RunSet, b: RunSet, profile: NoiseProfile | None) -> list[str]:
    if profile is None:
        return []
    notes = []
    names = {run.manifest.profile_name for side in (a, b) for run in side.runs}
    if profile.document["profile_name"] not in names:
        notes.append(
            f"the {profile.name} was recorded for profile {profile.document['profile_name']}, "
            f"these runs ran {', '.join(sorted(names))}: levels are matched by name"
        )
    for label, used in zip("AB", _own_sources(a, b, profile), strict=True):
        if not used:
            notes.append(f"{label}'s runs are the noise profile's own: they count once, in it")
    return notes


def _empty(unit: Unit, side: RunSet, figures: list[estimates.LevelFigures]) -> list[str]:
    empty = [run for run, f in zip(side.runs, figures, strict=True) if not f.methods]
    return [
        f"{run.folder} has no measured request in {unit.scenario}/{unit.level}: its metrics "
        f"there are n/a ({outcomes.NO_REQUESTS})"
        for run in empty
    ]


def _client_limited(unit: Unit, side: RunSet) -> list[str]:
    where = f"{unit.scenario}/{unit.level}"
    return [
        f"{run.folder}: {where}: {outcomes.CLIENT_LIMITED}: {why}; what the client timed there "
        f"is n/a ({outcomes.CLIENT_LIMITED})"
        for run in side.runs
        if (why := run.scenarios[unit.scenario].levels[unit.level].client_limited)
    ]


def assess(
    unit: Unit,
    metric: Metric,
    side_a: Sequence[estimates.LevelFigures],
    side_b: Sequence[estimates.LevelFigures],
    options: Options,
    own: tuple[bool, bool] = (True, True),
) -> Assessed:
    """One metric of one level: the change of B against A with the noise known for it."""
    gated = options.gate.covers(metric.name, unit.kind)
    found_a = [f.values.get(metric.name, "not compared") for f in side_a]
    found_b = [f.values.get(metric.name, "not compared") for f in side_b]
    est_a = [e for e in found_a if isinstance(e, stats.Estimate)]
    est_b = [e for e in found_b if isinstance(e, stats.Estimate)]
    if not est_a or not est_b:
        reasons = [str(e) for e in (*found_a, *found_b) if not isinstance(e, stats.Estimate)]
        reason = outcomes.NO_REQUESTS if outcomes.NO_REQUESTS in reasons else reasons[0]
        return Assessed(unit, metric, gated, None, reason, "", len(est_a), len(est_b))
    pairs = _pairs(found_a, found_b, options.orders) if options.pairing else []
    if len(pairs) > 1:
        est_a, est_b = [a for a, _, _ in pairs], [b for _, b, _ in pairs]
        orders = [order for _, _, order in pairs]
        change = stats.paired(est_a, est_b, metric.log, options.pairing, orders)
        method, n_a, n_b = f"{options.pairing}: {len(pairs)} pairs", len(pairs), len(pairs)
        sources: list[stats.Source] = []
    else:
        change, method, n_a, n_b, sources = _unpaired(
            unit, metric, side_a, est_a, est_b, options, own
        )
    change, said = rates.judged(metric, change, est_a, est_b, sources)
    method = f"{method}; {said}" if said else method
    dead = rates.dead_side(metric, est_a, est_b)
    return Assessed(unit, metric, gated, change, "", method, n_a, n_b, dead)


def _unpaired(
    unit: Unit,
    metric: Metric,
    side_a: Sequence[estimates.LevelFigures],
    est_a: list[stats.Estimate],
    est_b: list[stats.Estimate],
    options: Options,
    own: tuple[bool, bool],
) -> tuple[stats.Change, str, int, int, list[stats.Source]]:
    """The change of sides not paired, with the noise known for it: its method, units a side,
    and the sources of run-to-run noise it took."""
    sources = [
        s
        for s in (
            stats.source(f"A's {len(est_a)} runs", est_a) if own[0] else None,
            stats.source(f"B's {len(est_b)} runs", est_b) if own[1] else None,
            options.noise.source(unit, metric.name) if options.noise else None,
        )
        if s is not None
    ]
    change = stats.difference(est_a, est_b, sources, metric.log)
    if len(est_a) > 1 or len(est_b) > 1:
        runs = f"runs: {len(est_a)} vs {len(est_b)}"
        return change, runs, len(est_a), len(est_b), sources
    method = side_a[0].methods.get(metric.family, "")
    return change, method, est_a[0].units, est_b[0].units, sources


def _pairs(
    found_a: Sequence[stats.Estimate | str],
    found_b: Sequence[stats.Estimate | str],
    orders: Sequence[str],
) -> list[tuple[stats.Estimate, stats.Estimate, str]]:
    """The pairs both sides measured, each with its order (one side's n/a drops its pair, not
    the pairing)."""
    return [
        (a, b, order)
        for a, b, order in zip(found_a, found_b, orders or [""] * len(found_a), strict=True)
        if isinstance(a, stats.Estimate) and isinstance(b, stats.Estimate)
    ]


def judge(assessed: Sequence[Assessed], options: Options) -> list[Row]:
    """Verdicts: gated metrics with Holm's correction over all gated tests (one family for
    'worse', one for 'better'), the others each at alpha."""
    tested = [
        i for i, x in enumerate(assessed) if x.gated and x.change and x.change.p_up is not None
    ]
    adjusted: dict[tuple[int, bool], float] = {}
    for worse in (True, False):
        ps = [_p_towards(assessed[i], worse) for i in tested]
        corrected = gate.holm(ps) if options.correct else ps
        adjusted.update({(i, worse): p for i, p in zip(tested, corrected, strict=True)})
    family = len(tested) if options.correct else 1
    return [_row(i, x, options, adjusted, family) for i, x in enumerate(assessed)]


def _p_towards(x: Assessed, worse: bool) -> float:
    """One-sided p-value of a change towards worse (or better) for this metric."""
    assert x.change is not None
    up_is_worse = not x.metric.higher_is_better
    p = x.change.p(up=up_is_worse if worse else not up_is_worse)
    assert p is not None
    return p


def _p_seen(change: stats.Change) -> float:
    """One-sided p-value in the direction of the change; 1 when there is none."""
    p = change.p(up=change.d > 0) if change.d else 1.0
    assert p is not None
    return p


def _row(
    i: int,
    x: Assessed,
    options: Options,
    adjusted: dict[tuple[int, bool], float],
    family: int,
) -> Row:
    threshold = options.threshold(x.metric)
    c = x.change
    p = p_adjusted = reach = None
    significant = beyond = False
    if c is None:
        verdict = outcomes.na(x.missing)
    elif c.p_up is None:
        verdict = _untestable(c)
    else:
        worse = (c.d > 0) != x.metric.higher_is_better
        p = _p_seen(c)
        p_adjusted = adjusted.get((i, worse)) if x.gated else None
        decisive = p if p_adjusted is None else p_adjusted
        significant = c.d != 0 and decisive < options.alpha
        beyond = abs(size(x.metric, c.d)) > threshold
        verdict = _verdict(x.metric, c, worse, significant and beyond, options.floor)
        found = c.reach(options.alpha / family if x.gated else options.alpha)
        reach = None if found is None else rates.capped(x.metric, c.a, abs(size(x.metric, found)))
    if x.dead and c is not None:
        verdict = rates.dead(x.metric, c.d, x.dead)
    return Row(
        unit=x.unit,
        metric=x.metric,
        gated=x.gated,
        change=c,
        threshold=threshold,
        verdict=verdict,
        significant=significant,
        beyond=beyond,
        p=p,
        p_adjusted=p_adjusted,
        method=x.method,
        n_a=x.n_a,
        n_b=x.n_b,
        reach=reach,
    )


def _untestable(change: stats.Change) -> Verdict:
    """Nothing to test: no change and no spread at all (0 errors on both sides) is no change;
    otherwise it cannot be judged."""
    if not change.untestable:
        return Verdict(outcomes.SAME)
    if change.noise == "none":
        return outcomes.inconclusive(f"{change.untestable}: {outcomes.NOISE_UNKNOWN}")
    return outcomes.inconclusive(change.untestable)


def _verdict(
    metric: Metric, change: stats.Change, worse: bool, decided: bool, floor: bool
) -> Verdict:
    """Better or worse when decided (significant and beyond the threshold); with only the
    runs' own noise known, only beyond the floor, else inconclusive."""
    if not decided:
        return Verdict(outcomes.SAME)
    if change.noise == WITHIN_ONLY and floor and not beyond_floor(metric, change.d):
        return outcomes.inconclusive(outcomes.NOISE_UNKNOWN)
    return Verdict(outcomes.WORSE if worse else outcomes.BETTER)


def size(metric: Metric, d: float) -> float:
    """A change on the test's scale in the threshold's unit: percent of A, or points."""
    return 100 * math.expm1(d) if metric.log else 100 * d


def beyond_floor(metric: Metric, d: float) -> bool:
    if metric.log:
        return abs(d) >= math.log(FLOOR_RATIO)
    return 100 * abs(d) >= FLOOR_POINTS


def _pooled_ttft(levels: list[LevelData]) -> np.ndarray:
    return np.array([v for lv in levels for v in summary.values(lv.samples, "ttft_ms")])
