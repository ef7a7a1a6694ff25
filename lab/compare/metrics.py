"""What `compare` compares: each metric's name, unit, good direction and default threshold, and
how one level's recorded requests become units for the statistics (lab.compare.stats measures).

Metrics of one family (the percentiles of TTFT, say) share one measure and one bootstrap. Rates
(error rate, hit rate, stickiness, balance) are fractions, tested on their values, with
thresholds in percentage points; latencies and throughput are tested on the log scale, with
thresholds in percent of A. Error rate and SLO attainment are counts, and carry them for
Fisher's exact test (lab.compare.counts).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field, replace

import numpy as np

from lab.compare import outcomes, stats
from lab.errors import ConfigError
from lab.results import level as level_figures
from lab.results import summary
from lab.results.summary import Sample

PERCENTILES = level_figures.PERCENTILES
# Each latency family and its label.
LATENCIES = dict(zip(level_figures.LATENCIES, ("TTFT", "TPOT", "ITL", "E2E"), strict=True))
WINDOW_S = 2.0  # throughput of one run is measured per time window of about this length
MIN_WINDOWS, MAX_WINDOWS = 4, 30
NO_SLO = "no SLO judged the requests"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    family: str
    unit: str  # ms, req/s, tok/s, or % for fractions shown as percentages
    higher_is_better: bool
    threshold: float  # default: percent of A when relative, else percentage points
    relative: bool

    @property
    def rate(self) -> bool:
        return self.unit == "%"

    @property
    def per_level(self) -> bool:
        """A figure of each level; else of a whole capacity search (lab.compare.capacity)."""
        return self.family != "capacity"

    @property
    def log(self) -> bool:
        """Tested on the log scale (latencies, throughput: changes are ratios), else on the
        values themselves (rates: changes are points)."""
        return self.relative


METRICS: tuple[Metric, ...] = (
    *(
        Metric(f"{family}_p{q}", f"{label} p{q}", family, "ms", False, 10.0, True)
        for family, label in LATENCIES.items()
        for q in PERCENTILES
    ),
    Metric("requests_per_s", "requests/s", "throughput", "req/s", True, 5.0, True),
    Metric("output_tokens_per_s", "output tokens/s", "throughput", "tok/s", True, 5.0, True),
    Metric("error_rate", "error rate", "errors", "%", False, 1.0, False),
    Metric("prefix_cache_hit_rate", "prefix-cache hit rate", "hit_rate", "%", True, 5.0, False),
    Metric("session_stickiness", "session stickiness", "stickiness", "%", True, 5.0, False),
    Metric("engine_balance", "engine balance (min/max)", "balance", "%", True, 10.0, False),
    # Routing logics judged on latency beside hits and balance (lab.compare.metrics.ROUTING).
    *(
        Metric(f"{family}_p50", label, family, "ms", False, 10.0, True)
        for family, label in (
            ("ttft_busiest_engine", "TTFT p50 on the busiest engine"),
            ("ttft_first_round", "TTFT p50, first conversation round"),
            ("ttft_later_rounds", "TTFT p50, later conversation rounds"),
        )
    ),
    Metric("slo_attainment", "SLO attainment", "slo", "%", True, 5.0, False),
    Metric("goodput_rps", "goodput (req/s)", "goodput", "req/s", True, 5.0, True),
    # One figure per run of a whole capacity search, not of a level (lab.compare.capacity);
    # 10%: the search's default precision, a smaller change lies within one bracket.
    Metric("capacity_rps", "capacity (req/s)", "capacity", "req/s", True, 10.0, True),
)
BY_NAME = {m.name: m for m in METRICS}
# Families the client's own clock measures. A level whose load generator was the limit
# (lab.results.summary.client_limit) measured the client there: they are n/a (client_limited).
CLIENT_TIMED = (
    "ttft", "tpot", "itl", "e2e", "throughput", "ttft_busiest_engine", "ttft_first_round",
    "ttft_later_rounds", "slo", "goodput",
)  # fmt: skip
FAMILIES: dict[str, tuple[Metric, ...]] = {}
for _metric in METRICS:
    FAMILIES[_metric.family] = (*FAMILIES.get(_metric.family, ()), _metric)


def select(names: Iterable[str], option: str = "--metrics") -> list[Metric]:
    """Metrics by name or family name (ttft = ttft_p50, ttft_p90, ttft_p99); all when none.
    Comma-separated lists are split. An unknown name is refused with the valid ones."""
    wanted = [n.strip() for item in names for n in item.split(",") if n.strip()]
    if not wanted:
        return list(METRICS)
    unknown = [n for n in wanted if n not in BY_NAME and n not in FAMILIES]
    if unknown:
        raise ConfigError(
            f"{option}: unknown metric {', '.join(unknown)}; valid metrics: "
            f"{', '.join(BY_NAME)}; or a family: {', '.join(FAMILIES)}"
        )
    chosen = {m.name for n in wanted for m in (FAMILIES.get(n) or (BY_NAME[n],))}
    return [m for m in METRICS if m.name in chosen]


def thresholds(items: Iterable[str]) -> dict[str, float]:
    """Each metric's threshold: the defaults, overridden by METRIC=PCT (or FAMILY=PCT)."""
    out = {m.name: m.threshold for m in METRICS}
    for item in items:
        name, sep, raw = item.partition("=")
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*%?\s*", raw)
        if not sep or not match:
            raise ConfigError(f"--threshold {item}: expected METRIC=PCT, e.g. ttft_p99=15")
        targets = FAMILIES.get(name) or ((BY_NAME[name],) if name in BY_NAME else ())
        if not targets:
            raise ConfigError(
                f"--threshold {item}: unknown metric {name}; valid metrics: {', '.join(BY_NAME)}"
                f"; or a family: {', '.join(FAMILIES)}"
            )
        for metric in targets:
            out[metric.name] = float(match[1])
    return out


@dataclass(frozen=True)
class LevelData:
    """One run's records of one level: its requests and the engines' counter deltas."""

    samples: list[Sample]
    engines: dict[str, dict[str, float]] = field(default_factory=dict)
    client_limited: str | None = None  # why its load generator was the limit (summary.json)
    out_of_range: dict[str, str] = field(default_factory=dict)  # family -> why (compare.ranges)

    @property
    def measured(self) -> list[Sample]:
        return [s for s in self.samples if s.measured]

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.measured if s.ok]

    def tells_cached_tokens(self) -> bool:
        """Every successful request reports its cached prompt tokens."""
        ok = self.ok
        return bool(ok) and all(s.cached_tokens is not None for s in ok)


def measure(family: str, level: LevelData, per_request_hits: bool) -> tuple[stats.Measure, str]:
    """The measure of a family on one run's level, with a word on its units; raises
    LookupError(reason) when the level has nothing to measure it with."""
    if family in LATENCIES:
        return _latency(family, level)
    found = {
        "throughput": _throughput,
        "errors": _errors,
        "stickiness": _stickiness,
        "balance": _balance,
        **ROUTING,
        "slo": _attainment,
        "goodput": _goodput,
    }.get(family)
    if found:
        return found(level)
    if per_request_hits:
        return _request_hits(level)
    return _counter_hits(level)


def _units(samples: Iterable[Sample]) -> list[list[Sample]]:
    """What a bootstrap resamples: each conversation whole where requests belong to one (a
    routing level: a conversation's requests share its prefix, its engine and its user's
    pace, and under `ab --concurrent` its arm, so they are not independent draws; resampling
    them one by one would claim more than the level saw), else each request on its own."""
    conversations: dict[str, list[Sample]] = defaultdict(list)
    alone = []
    for s in samples:
        if s.session:
            conversations[s.session].append(s)
        else:
            alone.append([s])
    return [*conversations.values(), *alone]


def _word(units: list[list[Sample]]) -> str:
    return "requests" if all(len(u) == 1 for u in units) else "conversations"


def _latency(family: str, level: LevelData) -> tuple[stats.Measure, str]:
    return _quantiles(level.ok, f"{family}_ms", PERCENTILES)


def _quantiles(
    samples: Iterable[Sample], field: str, qs: tuple[float, ...]
) -> tuple[stats.Measure, str]:
    """Percentiles of a latency over successful requests, resampled by _units. Token gaps (ITL)
    are pooled over requests, so a request's gaps are always resampled together."""
    units = _units(samples)
    word = _word(units)
    missing = (
        "no token gaps recorded" if field == "itl_ms" else f"no {LATENCIES[field[:-3]]} recorded"
    )
    if field == "itl_ms" or word == "conversations":
        groups = tuple(g for u in units if len(g := np.array(summary.values(u, field))))
        _need(groups, missing)
        if word == "requests":
            word = "requests (gaps resampled by request)"
        return stats.ClusteredQuantiles(groups, qs), word
    data = np.array(summary.values((s for u in units for s in u), field))
    _need(data, missing)
    return stats.Quantiles(data, qs), word


def windows(level: LevelData) -> tuple[np.ndarray, float]:
    """Requests/s and output tokens/s in equal time windows spanning the level, one row per
    window; their means are the level's throughput (completed over the whole span)."""
    measured, ok = level.measured, level.ok
    _need(ok, "no successful requests")
    t0, t1 = min(s.start for s in measured), max(s.end for s in measured)
    count = int(np.clip(round((t1 - t0) / WINDOW_S), MIN_WINDOWS, MAX_WINDOWS))
    edges = np.linspace(t0, t1, count + 1)
    width = edges[1] - edges[0]
    if width <= 0:
        raise LookupError("no time span")
    ends = np.array([s.end for s in ok])
    done = np.histogram(ends, edges)[0]
    tokens = np.histogram(ends, edges, weights=[s.output_tokens for s in ok])[0]
    return np.column_stack([done, tokens]) / width, width


def _throughput(level: LevelData) -> tuple[stats.Measure, str]:
    values, width = windows(level)
    return stats.Means(values), f"{len(values)} time windows of {width:.1f} s"


def _share(
    units: list[list[Sample]],
    counted: Callable[[Sample], bool],
    whole: Callable[[Iterable[bool]], bool],
) -> tuple[stats.Measure, str]:
    """The share of requests that `counted` holds for, over _units; and, for a test on counts
    (lab.compare.counts), how many units count as a whole by `whole` (any, all) of theirs."""
    hits = np.array([sum(counted(s) for s in u) for u in units], dtype=float)
    sizes = np.array([len(u) for u in units], dtype=float)
    wholes = sum(whole(counted(s) for s in u) for u in units)
    return stats.PooledRatio(hits, sizes, wholes), _word(units)


def _errors(level: LevelData) -> tuple[stats.Measure, str]:
    """Requests that failed; a conversation failed when any of its requests did."""
    units = _units(level.measured)
    _need(units, outcomes.NO_REQUESTS)
    return _share(units, lambda s: not s.ok, any)


def _attainment(level: LevelData) -> tuple[stats.Measure, str]:
    """Requests that met the SLO (requests.csv's slo_ok; a failure did not); a conversation
    met it when every one of its requests did."""
    units = _units(s for s in level.measured if s.slo_ok is not None)
    _need(units, NO_SLO)
    return _share(units, lambda s: bool(s.slo_ok), all)


def _goodput(level: LevelData) -> tuple[stats.Measure, str]:
    """Requests/s in time windows, as throughput, counting only those that met the SLO."""
    if not any(s.slo_ok is not None for s in level.measured):
        raise LookupError(NO_SLO)
    good = LevelData([replace(s, ok=bool(s.slo_ok)) for s in level.samples], level.engines)
    values, width = windows(good)
    return stats.Means(values[:, :1]), f"{len(values)} time windows of {width:.1f} s"


def _request_hits(level: LevelData) -> tuple[stats.Measure, str]:
    units = _units(s for s in level.ok if s.cached_tokens is not None and s.prompt_tokens)
    _need(units, "no cached-token figures")
    cached = np.array([sum(s.cached_tokens or 0 for s in u) for u in units], dtype=float)
    prompt = np.array([sum(s.prompt_tokens for s in u) for u in units], dtype=float)
    return stats.PooledRatio(cached, prompt), f"{_word(units)} (cached / prompt tokens)"


def _counter_hits(level: LevelData) -> tuple[stats.Measure, str]:
    queries = sum(c.get("prefix_cache_queries", 0.0) for c in level.engines.values())
    hits = sum(c.get("prefix_cache_hits", 0.0) for c in level.engines.values())
    if not queries:
        raise LookupError("no prefix-cache figures")
    return stats.Fixed((hits / queries,)), "engine counters (one value per run)"


def _stickiness(level: LevelData) -> tuple[stats.Measure, str]:
    homes = [
        Counter(s.engine for s in u) for u in _units(s for s in level.ok if s.session and s.engine)
    ]
    shares = np.array([max(c.values()) / c.total() for c in homes])
    _need(shares, "no sessions")
    return stats.Means(shares[:, None]), "sessions"


def _balance(level: LevelData) -> tuple[stats.Measure, str]:
    served = [s.engine for s in level.ok if s.engine]
    if not served:
        served = [e for e, c in level.engines.items() for _ in range(int(c.get("requests", 0)))]
    _need(served, "no engine recorded")
    names = sorted(set(served) | set(level.engines))
    codes = np.array([names.index(e) for e in served])
    return stats.Balance(codes, len(names)), "requests"


def _median_ttft(samples: Iterable[Sample]) -> tuple[stats.Measure, str]:
    return _quantiles(samples, "ttft_ms", (50,))


def _busiest_engine(level: LevelData) -> tuple[stats.Measure, str]:
    served = Counter(s.engine for s in level.ok if s.engine)
    _need(served, "no engine recorded")
    busiest = served.most_common(1)[0][0]
    return _median_ttft(s for s in level.ok if s.engine == busiest)


# Families of the routing verdict: TTFT where one engine takes too much, and by round (the
# first round of a conversation cannot hit the cache; later ones can).
ROUTING = {
    "ttft_busiest_engine": _busiest_engine,
    "ttft_first_round": lambda level: _median_ttft(s for s in level.ok if s.round == "0"),
    "ttft_later_rounds": lambda level: _median_ttft(
        s for s in level.ok if s.round not in ("", "0")
    ),
}


def _need(found: Sized, reason: str) -> None:
    """LookupError(reason) when nothing was found: the metric is n/a (reason) on that side."""
    if not len(found):
        raise LookupError(reason)
