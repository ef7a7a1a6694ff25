"""Physical ranges of what a results folder records, checked where compare reads it: latencies
are not negative, requests start and end within the run's span, token counts are not negative
and cached tokens at most the prompt's, prefix-cache hits at most the queries. A recorded value
outside them makes the metrics it feeds n/a at that level, with the reason naming the file and
row: never counted, never silently dropped (lab.compare.outcomes)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from lab.results.manifest import Manifest
from lab.results.summary import Sample

# The families (lab.compare.metrics) a latency feeds.
LATENCY_FAMILIES = {
    "ttft_ms": ("ttft", "ttft_busiest_engine", "ttft_first_round", "ttft_later_rounds"),
    "tpot_ms": ("tpot",),
    "e2e_ms": ("e2e",),
    "itl_ms": ("itl",),
}
JUDGED = ("slo", "goodput")  # the SLO judged each request on its recorded latencies
TIMED = ("throughput", "goodput")  # counted over the requests' span
SLACK_S = 1.0  # a manifest's times are to the second

Doubts = dict[str, dict[str, str]]  # level -> family -> why it is n/a there


def span(manifest: Manifest) -> tuple[float, float]:
    """When the run began and ended (its manifest's times, widened by SLACK_S); an end not yet
    recorded is open."""
    start = _seconds(manifest.started, -math.inf)
    end = _seconds(manifest.ended, math.inf)
    return start - SLACK_S, end + SLACK_S


def of_samples(samples: Iterable[Sample], file: str, within: tuple[float, float]) -> Doubts:
    """The first out-of-range value of each family at each level, as the reason it is n/a."""
    doubts: Doubts = {}
    for row, sample in enumerate(samples, 1):
        for families, why in _sample_problems(sample, within):
            mine = doubts.setdefault(sample.level, {})
            for family in families:
                mine.setdefault(family, f"out of range: {file} row {row}: {why}")
    return doubts


def of_engines(engines: dict[str, dict[str, dict[str, float]]], file: str) -> Doubts:
    """Hit rates over 100% or negative counters, at each level of engines.csv."""
    doubts: Doubts = {}
    for level, per_engine in engines.items():
        for engine, counters in per_engine.items():
            why = next((f"{k} {v:g} is below 0" for k, v in counters.items() if v < 0), None)
            hits, queries = (
                counters.get(k, 0.0) for k in ("prefix_cache_hits", "prefix_cache_queries")
            )
            if why is None and hits > queries:
                why = f"prefix_cache_hits {hits:g} is more than prefix_cache_queries {queries:g}"
            if why:
                reason = f"out of range: {file} engine {engine}: {why}"
                doubts.setdefault(level, {}).update(hit_rate=reason, balance=reason)
    return doubts


def merged(*found: Doubts) -> Doubts:
    """One level's reasons from several files: the first found for a family stays."""
    out: Doubts = {}
    for doubts in found:
        for level, families in doubts.items():
            out[level] = families | out.get(level, {})
    return out


def _sample_problems(
    sample: Sample, within: tuple[float, float]
) -> Iterable[tuple[tuple[str, ...], str]]:
    for column, families in LATENCY_FAMILIES.items():
        values = sample.itl_ms if column == "itl_ms" else (getattr(sample, column),)
        bad = next((v for v in values if v is not None and v < 0), None)
        if bad is not None:
            yield (
                (*families, *JUDGED, *(TIMED if column == "e2e_ms" else ())),
                f"{column} {bad:g} is below 0",
            )
    if not within[0] <= sample.start <= sample.end <= within[1]:
        yield (
            TIMED,
            (
                f"the request's time, {sample.start:.3f} to {sample.end:.3f}, is outside the run's "
                f"span ({within[0]:.0f} to {within[1]:.0f}, as its manifest says)"
            ),
        )
    counts = {"prompt_tokens": sample.prompt_tokens, "output_tokens": sample.output_tokens}
    if sample.cached_tokens is not None:
        counts["cached_tokens"] = sample.cached_tokens
    for column, count in counts.items():
        if count < 0:
            yield ("throughput", "hit_rate"), f"{column} {count} is below 0"
    if (sample.cached_tokens or 0) > sample.prompt_tokens:
        yield (
            ("hit_rate",),
            f"cached_tokens {sample.cached_tokens} is more than "
            f"prompt_tokens {sample.prompt_tokens}",
        )


def _seconds(when: Any, open_end: float) -> float:
    """A manifest time as Unix seconds; none recorded (or unreadable) is an open end."""
    try:
        return datetime.fromisoformat(str(when)).timestamp()
    except ValueError:
        return open_end
