"""What one load level measured, computed from its raw per-request samples (requests.csv) and
the engines' counter deltas. Metric definitions follow `vllm bench serve` (lab.inproc.streaming).
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab.config.validation import shorten
from lab.errors import ConfigError

# The columns of requests.csv: one row per request, written by lab.inproc.llm_user.
LATENCIES = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms")
PERCENTILES = (50, 90, 99)


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
    lag_ms: float | None = None  # how late the load generator sent it (open loop)

    @property
    def measured(self) -> bool:
        """Timed while the load generator ran undisturbed."""
        return self.phase != "drain"

    @property
    def end(self) -> float:
        return self.start + (self.e2e_ms or 0.0) / 1000


def read_samples(path: Path) -> list[Sample]:
    """The samples of a requests.csv; a row that is not numbers where numbers belong is a
    ConfigError naming the file, the line and the column."""
    try:
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            return [_checked(row, path, reader.line_num) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None


def _checked(row: dict[str, str], path: Path, line: int) -> Sample:
    try:
        return from_row(row)
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
        ok=row["status"] == "ok",
        error=row.get("error", ""),
        phase=row.get("phase") or "run",
        slo_ok=row["slo_ok"] == "1" if row.get("slo_ok") else None,
        lag_ms=number("lag_ms"),
    )


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
    """The figures of one level: counts, throughput, latency percentiles, routing figures.

    Requests that finished while the load generator was stopping (phase drain) count as
    requests, but not in latencies or throughput: their timing is the generator's, not the
    stack's."""
    drained = [s for s in samples if not s.measured]
    samples = [s for s in samples if s.measured]
    ok = [s for s in samples if s.ok]
    duration = _duration(samples)
    out: dict[str, Any] = {
        "requests": len(samples),
        "completed": len(ok),
        "failed": len(samples) - len(ok),
        "drained": len(drained),
        "error_rate": (len(samples) - len(ok)) / len(samples) if samples else 0.0,
        "duration_s": duration,
        "requests_per_s": len(ok) / duration if duration else 0.0,
        "output_tokens_per_s": sum(s.output_tokens for s in ok) / duration if duration else 0.0,
        "mean_prompt_tokens": float(np.mean([s.prompt_tokens for s in ok])) if ok else 0.0,
        "mean_output_tokens": float(np.mean([s.output_tokens for s in ok])) if ok else 0.0,
        "errors": dict(Counter(s.error.split(":")[0] for s in samples if not s.ok)),
    }
    out.update(slo_figures(samples, duration))
    for metric in LATENCIES:
        data = values(samples, metric)
        name = metric.removesuffix("_ms")
        out[f"mean_{name}_ms"] = float(np.mean(data)) if data else None
        for p in PERCENTILES:
            out[f"p{p}_{name}_ms"] = float(np.percentile(data, p)) if data else None
    out.update(routing_figures(samples, engines or {}))
    return out


def slo_figures(samples: list[Sample], duration: float) -> dict[str, float | None]:
    """Share of the measured requests that met the SLO (failed ones count as not met) and good
    requests per second over the level's span, as lab.config.slo defines them; None when the
    requests were not judged (no SLO)."""
    judged = [s.slo_ok for s in samples if s.slo_ok is not None]
    if not judged or len(judged) != len(samples):
        return {"slo_attainment": None, "goodput_rps": None}
    good = sum(judged)
    return {
        "slo_attainment": good / len(samples),
        "goodput_rps": good / duration if duration else 0.0,
    }


def routing_figures(samples: list[Sample], engines: dict[str, dict[str, float]]) -> dict:
    """Requests per engine, their balance, session stickiness and the prefix-cache hit rate."""
    served = Counter(s.engine for s in samples if s.ok and s.engine)
    if not served and engines:
        served = Counter({name: int(c.get("requests", 0)) for name, c in engines.items()})
    per_engine: dict[str, int] = {n: served.get(n, 0) for n in sorted(set(served) | set(engines))}
    counts: list[int] = list(per_engine.values())
    busiest, total = max(counts, default=0), sum(counts)
    out: dict[str, Any] = {
        "requests_per_engine": per_engine,
        "engine_balance": min(counts) / busiest if busiest else None,
        "busiest_engine_share": busiest / total if total else None,
        "session_stickiness": stickiness(samples),
        # A routing logic is judged on latency too: one overloaded engine shows here.
        "p50_ttft_ms_per_engine": ttft_per_engine(samples),
    }
    rounds = ttft_by_round(samples)
    if rounds:  # conversations (the routing scenario): does the cache make later rounds fast?
        out["p50_ttft_ms_by_round"] = rounds
    queries = sum(c.get("prefix_cache_queries", 0.0) for c in engines.values())
    hits = sum(c.get("prefix_cache_hits", 0.0) for c in engines.values())
    out["prefix_cache_hit_rate"] = hits / queries if queries else None
    # The same, as the requests' own usage reports it (per request, so it has a spread).
    told = [s for s in samples if s.ok and s.cached_tokens is not None and s.prompt_tokens]
    prompt = sum(s.prompt_tokens for s in told)
    cached = sum(s.cached_tokens or 0 for s in told)
    out["request_cache_hit_rate"] = cached / prompt if prompt else None
    return out


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
