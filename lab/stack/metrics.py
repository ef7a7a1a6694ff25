"""Reading engines' and the router's Prometheus metrics, parsed by prometheus_client.

The lab trusts the engines' own counters for what happened (which engine served a request,
how many prompt tokens hit the prefix cache), not the router's account of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

from lab.stack import promql
from lab.stack.endpoints import Engine

Snapshot = dict[str, float]  # sample name -> value summed over all label sets

SERVED = "vllm:request_success_total"
PREFIX_QUERIES = "vllm:prefix_cache_queries_total"
PREFIX_HITS = "vllm:prefix_cache_hits_total"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
# The engines' counters the lab reads, with the names results give them (engines.csv).
COUNTERS = {
    SERVED: "requests",
    PROMPT_TOKENS: "prompt_tokens",
    GENERATION_TOKENS: "generation_tokens",
    PREFIX_QUERIES: "prefix_cache_queries",
    PREFIX_HITS: "prefix_cache_hits",
}
ENGINE_COUNTERS = tuple(COUNTERS)
# Gauges of what fills up under load, under the lab's names. KV-cache usage has had two names
# (vLLM before its V1 engine: gpu_cache_usage_perc); the router's running requests exist only
# where vllm-router exports them (not with every policy).
ENGINE_GAUGES = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage",
}
ROUTER_GAUGES = {"vllm_router_running_requests": "running"}


def gauges(snapshot: Snapshot, names: Mapping[str, str]) -> dict[str, float]:
    """The gauges of a snapshot that it has, under the lab's names (the first name found wins)."""
    out: dict[str, float] = {}
    for name, label in names.items():
        if name in snapshot and label not in out:
            out[label] = snapshot[name]
    return out


def parse(text: str) -> Snapshot:
    totals: Snapshot = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
    return totals


def scrape(url: str, client: httpx.Client | None = None, timeout: float = 5.0) -> Snapshot:
    """One /metrics page, summed per sample name. Raises httpx errors to the caller."""
    getter = client or httpx
    response = getter.get(url, timeout=timeout)
    response.raise_for_status()
    return parse(response.text)


def by_label(url: str, sample: str, label: str) -> dict[str, float]:
    """{label value: value} of one sample name, e.g. the router's decisions by outcome."""
    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for item in family.samples:
            if item.name == sample:
                key = item.labels.get(label, "")
                out[key] = out.get(key, 0.0) + float(item.value)
    return out


def engine_counters(
    engines: Iterable[Engine],
    client: httpx.Client | None = None,
    silent: Callable[[Engine], None] | None = None,
) -> dict[str, Snapshot]:
    """{engine name: {counter: value}} for the counters the lab reads (ENGINE_COUNTERS), from
    its /metrics, or from the Prometheus that holds them. An engine whose counters do not
    answer raises httpx's error; or, when `silent` is given, is
    handed to it and left out (a load level goes on without its counters)."""
    engines = list(engines)
    out = _through_prometheus([e for e in engines if e.prometheus], client, silent)
    for engine in engines:
        if engine.prometheus:
            continue
        try:
            snap = scrape(engine.metrics, client)
        except httpx.HTTPError:
            if silent is None:
                raise
            silent(engine)
            continue
        out[engine.name] = {name: snap.get(name, 0.0) for name in ENGINE_COUNTERS}
    return {engine.name: out[engine.name] for engine in engines if engine.name in out}


def _through_prometheus(
    engines: list[Engine],
    client: httpx.Client | None,
    silent: Callable[[Engine], None] | None,
) -> dict[str, Snapshot]:
    """The counters of engines read through a Prometheus: one question per Prometheus."""
    out: dict[str, Snapshot] = {}
    for base in dict.fromkeys(engine.prometheus for engine in engines):
        group = [engine for engine in engines if engine.prometheus == base]
        try:
            with contextlib.nullcontext(client) if client else httpx.Client(timeout=10) as asking:
                found = promql.counters(base, [e.url for e in group], ENGINE_COUNTERS, asking)
        except httpx.HTTPError:
            if silent is None:
                raise
            for engine in group:
                silent(engine)
            continue
        out |= {engine.name: found[engine.url] for engine in group}
    return out


def named(counters: Mapping[str, Snapshot]) -> dict[str, Snapshot]:
    """Engine counters under the names results give them (COUNTERS)."""
    return {
        engine: {label: values.get(name, 0.0) for name, label in COUNTERS.items()}
        for engine, values in counters.items()
    }


def delta(after: Mapping[str, Snapshot], before: Mapping[str, Snapshot]) -> dict[str, Snapshot]:
    """Per engine, per counter: after - before. A counter that went down was reset (the engine
    restarted): then what it counted since, as Prometheus' increase() does."""

    def grew(now: float, then: float) -> float:
        return now - then if now >= then else now

    return {
        engine: {
            name: grew(value, before.get(engine, {}).get(name, 0.0)) for name, value in now.items()
        }
        for engine, now in after.items()
    }


def hit_rate(counters: Mapping[str, float]) -> float:
    """Prefix-cache hit rate in tokens (hits / queries); 0 when nothing was queried."""
    queries = counters.get(PREFIX_QUERIES, 0.0)
    return counters.get(PREFIX_HITS, 0.0) / queries if queries else 0.0
