"""What one load level measured, computed from its raw per-request samples (requests.csv) and
the engines' counter deltas. Metric definitions follow `vllm bench serve` (lab.inproc.streaming).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lab import files
from lab.errors import ConfigError
from lab.files import one_of, shorten
from lab.inproc.samples import NEEDED_COLUMNS
from lab.results.level import LATENCIES, PERCENTILES, Figures

# requests.csv: one row per request, written by lab.inproc.llm_user, its columns defined in
# lab.inproc.samples.COLUMNS; its latencies: lab.results.level.LATENCIES.
STATUSES = ("ok", "error")  # of a request (lab.inproc.llm_user); anything else is refused
PHASES = ("run", "drain")  # when it finished: under load, or while the load generator stopped
Row = TypeVar("Row")  # what one line of a CSV file the lab wrote is read as
# When the load generator, not the stack, set a level's figures (client_limit): one rule for
# every level, a capacity search's steps included.
CPU_BOUND = 0.9  # of one core: a Locust process busy (or waiting for a CPU) beyond this
UNCLASSIFIED = "unclassified"  # a failed request of a run that did not record how it failed
LATE_MS = 100.0  # a request sent this much after its scheduled arrival was sent late
LATE_SHARE = 0.10  # more late requests than this: the generator fell behind its schedule


@dataclass(frozen=True)
class Sample:
    """One request, as requests.csv records it."""

    start: float
    level: str
    session: str
    round: str
    engine: str
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int | None
    ttft_ms: float | None
    tpot_ms: float | None
    e2e_ms: float | None
    itl_ms: tuple[float, ...]
    ok: bool
    error: str
    phase: str  # run, or drain: finished while the load generator was stopping
    slo_ok: bool | None = None  # met the scenario's SLO; None: no SLO, or drained
    lag_ms: float | None = None  # how late the load generator sent it after its arrival time
    failure: str = ""  # how it failed (lab.inproc.failures); empty when ok, and in older runs

    @property
    def measured(self) -> bool:
        """Timed while the load generator ran undisturbed."""
        return self.phase != "drain"

    @property
    def end(self) -> float:
        return self.start + (self.e2e_ms or 0.0) / 1000


def check_columns(path: Path) -> None:
    """Refuse a requests.csv without the columns every reader needs (ConfigError naming them)."""
    next(files.csv_rows(path, path.name, NEEDED_COLUMNS), None)


def read_samples(path: Path) -> list[Sample]:
    """The samples of a requests.csv; a row that is not numbers where numbers belong is a
    ConfigError naming the file, the line and the column."""
    return _read(path, from_row)


def _read(path: Path, parse: Callable[[dict[str, str]], Row]) -> list[Row]:
    return [_checked(parse, row, path, line) for line, row in files.csv_rows(path, path.name)]


def _checked(
    parse: Callable[[dict[str, str]], Row], row: dict[str, str], path: Path, line: int
) -> Row:
    try:
        return parse(row)
    except KeyError as exc:
        raise ConfigError(f"{path}: line {line}: no {exc} column") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: line {line}: {exc}") from None


def from_row(row: dict[str, str]) -> Sample:
    """A Sample from one row of requests.csv."""

    def number(key: str) -> float | None:
        return finite(row[key], key) if row.get(key) else None

    return Sample(
        start=finite(row["start_time"], "start_time"),
        level=row.get("level", ""),
        session=row.get("session", ""),
        round=row.get("round", ""),
        engine=row.get("engine", ""),
        prompt_tokens=whole(row.get("prompt_tokens") or "0", "prompt_tokens"),
        output_tokens=whole(row.get("output_tokens") or "0", "output_tokens"),
        cached_tokens=whole(row["cached_tokens"], "cached_tokens")
        if row.get("cached_tokens")
        else None,
        ttft_ms=number("ttft_ms"),
        tpot_ms=number("tpot_ms"),
        e2e_ms=number("e2e_ms"),
        itl_ms=tuple(finite(g, "itl_ms") for g in (row.get("itl_ms") or "").split(";") if g),
        ok=one_of(row["status"], STATUSES, "status") == "ok",
        error=row.get("error", ""),
        phase=one_of(row.get("phase") or "run", PHASES, "phase"),
        slo_ok=row["slo_ok"] == "1" if row.get("slo_ok") else None,
        lag_ms=number("lag_ms"),
        failure=row.get("failure", ""),
    )


def failure_classes(samples: list[Sample]) -> dict[str, int]:
    """Failed requests by how they failed; a run from before requests.csv's failure column
    has its failures counted as unclassified."""
    return dict(Counter(s.failure or UNCLASSIFIED for s in samples if not s.ok))


def finite(text: str, column: str) -> float:
    """A measured figure: a finite number (NaN or infinity would poison every statistic)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{column}: {shorten(text)!r} is not a finite number")
    return value


def whole(text: str, column: str) -> int:
    """A count: a whole number."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{column}: {shorten(text)!r} is not a whole number") from None


def values(samples: Iterable[Sample], metric: str) -> list[float]:
    """Raw values of a latency metric over successful, undisturbed requests; ITL pools every
    gap."""
    ok = [s for s in samples if s.ok and s.measured]
    if metric == "itl_ms":
        return [gap for s in ok for gap in s.itl_ms]
    return [v for s in ok if (v := getattr(s, metric)) is not None]


def summarize(samples: list[Sample], engines: dict[str, dict[str, float]] | None = None) -> dict:
    """The figures of one level as summary.json holds them (lab.results.level.Figures)."""
    return measure(samples, engines).to_json()


def measure(samples: list[Sample], engines: dict[str, dict[str, float]] | None = None) -> Figures:
    """The figures of one level: counts, throughput, latency percentiles, routing figures.

    Requests that finished while the load generator was stopping (phase drain) count as
    requests, but not in latencies or throughput: their timing is the generator's, not the
    stack's."""
    engines = engines or {}
    drained = [s for s in samples if not s.measured]
    samples = [s for s in samples if s.measured]
    ok = [s for s in samples if s.ok]
    duration = _duration(samples)
    attainment, goodput = slo_figures(samples, duration)
    latency: dict[str, float | None] = {}
    for metric in LATENCIES:
        data = values(samples, f"{metric}_ms")
        latency[f"{metric}_mean"] = float(np.mean(data)) if data else None
        for p in PERCENTILES:
            latency[f"{metric}_p{p}"] = float(np.percentile(data, p)) if data else None
    per_engine = _served(samples, engines)
    counts = list(per_engine.values())
    busiest, total = max(counts, default=0), sum(counts)
    queries = sum(c.get("prefix_cache_queries", 0.0) for c in engines.values())
    hits = sum(c.get("prefix_cache_hits", 0.0) for c in engines.values())
    return Figures(
        requests=len(samples),
        completed=len(ok),
        failed=len(samples) - len(ok),
        drained=len(drained),
        error_rate=(len(samples) - len(ok)) / len(samples) if samples else 0.0,
        duration_s=duration,
        requests_per_s=len(ok) / duration if duration else 0.0,
        output_tokens_per_s=sum(s.output_tokens for s in ok) / duration if duration else 0.0,
        mean_prompt_tokens=float(np.mean([s.prompt_tokens for s in ok])) if ok else 0.0,
        mean_output_tokens=float(np.mean([s.output_tokens for s in ok])) if ok else 0.0,
        errors=dict(Counter(s.error.split(":")[0] for s in samples if not s.ok)),
        failures=failure_classes(samples),
        slo_attainment=attainment,
        goodput_rps=goodput,
        latency=latency,
        requests_per_engine=per_engine,
        engine_balance=min(counts) / busiest if busiest else None,
        busiest_engine_share=busiest / total if total else None,
        session_stickiness=stickiness(samples),
        ttft_p50_per_engine=ttft_per_engine(samples),
        # Conversations (the routing scenario): does the cache make later rounds fast?
        ttft_p50_by_round=ttft_by_round(samples) or None,
        prefix_cache_hit_rate=hits / queries if queries else None,
        # The same, as the requests' own usage reports it (per request, so it has a spread).
        request_cache_hit_rate=_request_hits(samples),
    )


def slo_figures(samples: list[Sample], duration: float) -> tuple[float | None, float | None]:
    """Share of the measured requests that met the SLO (failed ones count as not met) and good
    requests per second over the level's span, as lab.config.slo defines them; None when the
    requests were not judged (no SLO)."""
    judged = [s.slo_ok for s in samples if s.slo_ok is not None]
    if not judged or len(judged) != len(samples):
        return None, None
    good = sum(judged)
    return good / len(samples), good / duration if duration else 0.0


def _served(samples: list[Sample], engines: dict[str, dict[str, float]]) -> dict[str, int]:
    """Requests per engine, as the requests say (or else the engines' counters)."""
    served = Counter(s.engine for s in samples if s.ok and s.engine)
    if not served and engines:
        served = Counter({name: int(c.get("requests", 0)) for name, c in engines.items()})
    return {n: served.get(n, 0) for n in sorted(set(served) | set(engines))}


def _request_hits(samples: list[Sample]) -> float | None:
    told = [s for s in samples if s.ok and s.cached_tokens is not None and s.prompt_tokens]
    prompt = sum(s.prompt_tokens for s in told)
    cached = sum(s.cached_tokens or 0 for s in told)
    return cached / prompt if prompt else None


def stickiness(samples: Iterable[Sample]) -> float | None:
    """Mean over sessions of the share of its requests served by its most-used engine;
    None when no request says its session and engine."""
    homes: dict[str, Counter] = defaultdict(Counter)
    for s in samples:
        if s.ok and s.session and s.engine:
            homes[s.session][s.engine] += 1
    if not homes:
        return None
    shares = [max(c.values()) / sum(c.values()) for c in homes.values()]
    return float(np.mean(shares))


def ttft_per_engine(samples: Iterable[Sample]) -> dict[str, float]:
    """Median TTFT of the requests each engine served (as their x-lab-engine header said)."""
    served: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        if s.ok and s.measured and s.engine and s.ttft_ms is not None:
            served[s.engine].append(s.ttft_ms)
    return {engine: float(np.median(v)) for engine, v in sorted(served.items())}


def ttft_by_round(samples: Iterable[Sample]) -> dict[str, float]:
    """Median TTFT of each round of a multi-round conversation."""
    rounds: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        if s.ok and s.round != "" and s.ttft_ms is not None:
            rounds[s.round].append(s.ttft_ms)
    return {r: float(np.median(v)) for r, v in sorted(rounds.items(), key=lambda kv: int(kv[0]))}


def _duration(samples: list[Sample]) -> float:
    if not samples:
        return 0.0
    return max(s.end for s in samples) - min(s.start for s in samples)


@dataclass(frozen=True)
class CpuSample:
    """One Locust process's CPU time at one moment, as client_cpu.csv records it."""

    time: float
    process: str
    cpu_s: float
    wait_s: float | None  # runnable but waiting for a CPU (Linux), None where not told


def read_cpu(path: Path) -> list[CpuSample]:
    """A level's client_cpu.csv, checked as requests.csv is; none when the level has none
    (runs from before it was kept)."""
    return _read(path, _cpu_sample) if path.exists() else []


def _cpu_sample(row: dict[str, str]) -> CpuSample:
    return CpuSample(
        time=finite(row["time"], "time"),
        process=row["process"],
        cpu_s=finite(row["cpu_s"], "cpu_s"),
        wait_s=finite(row["wait_s"], "wait_s") if row.get("wait_s") else None,
    )


@dataclass(frozen=True)
class CpuUse:
    """A process's share of one core over a window: used, and demanded (used + waited)."""

    process: str
    cores: float
    demand: float | None


def cpu_use(cpu: Iterable[CpuSample], start: float, end: float) -> list[CpuUse]:
    """Each process's CPU use over [start, end], from its samples inside or around it
    (processes sampled for less than a second of it are left out)."""
    by_process: dict[str, list[CpuSample]] = defaultdict(list)
    for sample in cpu:
        by_process[sample.process].append(sample)
    out = []
    for process, rows in sorted(by_process.items()):
        rows.sort(key=lambda r: r.time)
        times = [r.time for r in rows]
        low, high = max(start, times[0]), min(end, times[-1])
        if high - low < 1.0:
            continue
        used = np.interp([low, high], times, [r.cpu_s for r in rows])
        cores = float(used[1] - used[0]) / (high - low)
        demand = None
        waits = [r.wait_s for r in rows if r.wait_s is not None]
        if len(waits) == len(rows):
            waited = np.interp([low, high], times, waits)
            demand = cores + float(waited[1] - waited[0]) / (high - low)
        out.append(CpuUse(process, cores, demand))
    return out


def client_figures(
    samples: list[Sample], cpu: list[CpuSample], slo_met: bool | None = None
) -> dict[str, Any]:
    """The load generator's own figures over a level's load: its processes' CPU use, how late
    requests left, and whether it, not the stack, was the limit (client_limit)."""
    use = cpu_use(cpu, *_window(samples))
    lags = _lags(samples)
    busiest = max(use, key=lambda u: u.cores) if use else None
    demands = [u.demand for u in use if u.demand is not None]
    return {
        "client_processes": len(use) or None,
        "client_cpu_cores": sum(u.cores for u in use) if use else None,
        "client_cpu_busiest": busiest.cores if busiest else None,
        "client_demand_busiest": max(demands) if demands else None,
        "lag_p50_ms": float(np.percentile(lags, 50)) if lags else None,
        "lag_p99_ms": float(np.percentile(lags, 99)) if lags else None,
        "late_share": late_share(samples),
        "client_limited": client_limit(samples, cpu, slo_met),
    }


def client_limit(
    samples: list[Sample], cpu: list[CpuSample], slo_met: bool | None = None
) -> str | None:
    """Why the load generator, not the stack, limited this level, or None: "the client is the
    limit" means this, wherever the lab says it (the summary, compare, a capacity search).

    Either a Locust process was saturated: it used, or was runnable and waited for, at least
    CPU_BOUND of a core over the load (a saturated client sends late and times every chunk
    late). Or it fell behind its schedule: more than LATE_SHARE of the requests left over
    LATE_MS after their arrival time, so the load asked for was not the load sent; unless the
    level failed its SLO (`slo_met` False): a stack too slow for the rate keeps every user
    busy, and a level that failed at less load than asked fails at the load asked too."""
    for use in cpu_use(cpu, *_window(samples)):
        if use.cores >= CPU_BOUND:
            return f"{use.process} used {use.cores:.2f} of a core (bound {CPU_BOUND})"
        if use.demand is not None and use.demand >= CPU_BOUND:
            return (
                f"{use.process} was busy or waiting for a CPU {use.demand:.0%} of the time "
                f"({use.cores:.2f} of a core used; bound {CPU_BOUND:.0%})"
            )
    late = late_share(samples)
    if late > LATE_SHARE and slo_met is not False:
        return (
            f"{late:.0%} of requests left over {LATE_MS:.0f} ms after their arrival time "
            f"(bound {LATE_SHARE:.0%})"
        )
    return None


def late_share(samples: list[Sample]) -> float:
    """Share of the measured open-loop requests sent over LATE_MS after their arrival time, as
    each request's own `lag_ms` says (0 without any: a closed loop has no schedule)."""
    lags = _lags(samples)
    return sum(lag > LATE_MS for lag in lags) / len(lags) if lags else 0.0


def _lags(samples: list[Sample]) -> list[float]:
    return [s.lag_ms for s in samples if s.measured and s.lag_ms is not None]


def _window(samples: list[Sample]) -> tuple[float, float]:
    """From the first measured request's start to the last one's end."""
    measured = [s for s in samples if s.measured]
    if not measured:
        return 0.0, 0.0
    return min(s.start for s in measured), max(s.end for s in measured)
