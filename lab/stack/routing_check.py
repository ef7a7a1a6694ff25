"""Does the router do what its routing logic claims? Measured from the engines' own counters.

Requests are sent one at a time, and the engine whose `vllm:request_success_total` rose is
the one that served it: the router's own account is not trusted.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from lab.console import bad, note, ok, say
from lab.errors import StepFailed
from lab.inproc import chat_tokens
from lab.stack.endpoints import Endpoints
from lab.stack.metrics import PREFIX_HITS, PREFIX_QUERIES, SERVED, by_label, engine_counters

ROUNDS_PER_ENGINE = 6
SESSIONS = 12
REQUESTS_PER_SESSION = 3
PREFIX_REPEATS = 4
PREFIX_WORDS = 150  # far beyond the router's match granularity and a few KV blocks
# Prefix-aware routing that gives one engine more than this share of the requests is said to
# be unbalanced, with the knob that changes it: a cache "win" with an engine idle is no win.
WARN_SHARE = 0.7
BALANCE_KNOBS = (
    "router.policy.balance_abs_threshold and balance_rel_threshold (vllm-router), "
    "router.policy.prefix_min_match_length (production-stack's router)"
)


class ForeignTraffic(Exception):
    """The engines served requests the lab did not send: their counters say nothing of the
    router's choices (only where the stack is shared)."""


@dataclass
class Verdict:
    routing: str
    passed: bool
    summary: str
    figures: dict = field(default_factory=dict)


class Probe:
    """Sends one request at a time and says which engine served it, and its prefix-cache hits."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.http = httpx.Client(timeout=10)
        self.client = openai.OpenAI(
            base_url=f"{endpoints.router}/v1", api_key=endpoints.api_key, max_retries=0, timeout=60
        )

    def send(self, prompt: str, headers: dict[str, str] | None = None) -> tuple[str, float, float]:
        """(engine name, prefix-cache hit tokens, prefix-cache queried tokens) of one request."""
        before = engine_counters(self.endpoints.engines, self.http)
        # Plain dicts: also what chat_tokens renders (openai types them as TypedDicts).
        messages: list[Any] = [{"role": "user", "content": prompt}]
        common: dict[str, Any] = {"model": self.endpoints.model, "max_tokens": 2, "temperature": 0}
        if self.endpoints.tokenizer:  # a router that routes on token IDs gets them
            ids = chat_tokens.token_ids(self.endpoints.tokenizer, messages)
            self.client.completions.create(prompt=ids, extra_headers=headers or {}, **common)
        else:
            self.client.chat.completions.create(
                messages=messages, extra_headers=headers or {}, **common
            )
        for _ in range(40):  # the counter is updated as the response leaves; allow a moment
            after = engine_counters(self.endpoints.engines, self.http)
            rose = [n for n in after if after[n][SERVED] > before[n][SERVED]]
            if rose:
                break
            time.sleep(0.05)
        served = sum(after[n][SERVED] - before[n][SERVED] for n in after)
        if self.endpoints.shared and served > 1:
            raise ForeignTraffic(
                f"n/a: foreign traffic: the engines served {served:g} requests while the lab "
                "sent 1; their counters cannot tell the router's choices"
            )
        if len(rose) != 1:
            raise StepFailed(f"cannot tell which engine served a request (counters rose on {rose})")
        name = rose[0]
        hits = after[name][PREFIX_HITS] - before[name][PREFIX_HITS]
        queries = after[name][PREFIX_QUERIES] - before[name][PREFIX_QUERIES]
        return name, hits, queries


def run(endpoints: Endpoints) -> Verdict:
    checks = {"roundrobin": round_robin, "session": sessions, "prefixaware": prefix_aware}
    if not endpoints.engines:
        summary = "n/a: no engines' counters to read (name the engines' URLs in target.engines)"
        note(f"routing check: {summary}")
        return Verdict(endpoints.routing, True, summary)
    if endpoints.routing not in checks:
        note(f"routing check: {endpoints.routing} has no deterministic check here; skipped")
        return Verdict(endpoints.routing, True, "skipped")
    try:
        verdict = checks[endpoints.routing](Probe(endpoints))
    except ForeignTraffic as exc:
        note(f"routing check: {exc}")
        return Verdict(endpoints.routing, True, str(exc))
    line = f"routing check ({verdict.routing}): {verdict.summary}"
    ok(line) if verdict.passed else bad(line)
    if not verdict.passed:
        raise StepFailed(f"routing check failed: {verdict.summary}")
    return verdict


def round_robin(probe: Probe) -> Verdict:
    """N requests spread over E engines within ±1 of N/E each."""
    engines = [e.name for e in probe.endpoints.engines]
    total = ROUNDS_PER_ENGINE * len(engines)
    served = Counter(probe.send(f"Request {i}: count to ten.")[0] for i in range(total))
    share = total / len(engines)
    counts = {name: served.get(name, 0) for name in engines}
    passed = all(abs(count - share) <= 1 for count in counts.values())
    return Verdict(
        "roundrobin",
        passed,
        f"{total} requests over {len(engines)} engines: {_counts(counts)} (expected {share:g} ±1)",
        {"requests_per_engine": counts},
    )


def sessions(probe: Probe) -> Verdict:
    """Every request of a session on one engine; more than one engine used overall."""
    key = probe.endpoints.session_key
    homes: dict[str, set[str]] = {}
    for round_ in range(REQUESTS_PER_SESSION):
        for session in range(SESSIONS):
            user = f"lab-user-{session}"
            engine, _, _ = probe.send(f"{user}, question {round_}: why?", {key: user})
            homes.setdefault(user, set()).add(engine)
    split = sorted(user for user, engines in homes.items() if len(engines) > 1)
    used = set().union(*homes.values())
    many = len(probe.endpoints.engines) > 1
    passed = not split and (len(used) > 1 or not many)
    summary = (
        f"{SESSIONS} sessions × {REQUESTS_PER_SESSION} requests on header {key}: "
        f"{SESSIONS - len(split)}/{SESSIONS} stayed on one engine, {len(used)} engines used"
    )
    if split:
        summary += f"; split: {', '.join(split)}"
    return Verdict(
        "session",
        passed,
        summary,
        {"sticky_sessions": SESSIONS - len(split), "engines_used": len(used)},
    )


def prefix_aware(probe: Probe) -> Verdict:
    """Requests sharing a long prefix go to the engine that already holds it, whose prefix
    cache then hits."""
    engines = len(probe.endpoints.engines)
    prefixes = [_long_prefix(topic) for topic in range(2 * engines)]
    first_home: dict[int, str] = {}
    served: Counter[str] = Counter()
    followed, repeats, hits, queries = 0, 0, 0.0, 0.0
    for round_ in range(PREFIX_REPEATS):
        for topic, prefix in enumerate(prefixes):
            engine, hit, queried = probe.send(f"{prefix} Question {round_}: and then?")
            served[engine] += 1
            if round_ == 0:
                first_home[topic] = engine
                continue
            repeats += 1
            followed += engine == first_home[topic]
            hits += hit
            queries += queried
    rate = hits / queries if queries else 0.0
    used = len(set(first_home.values()))
    passed = followed == repeats and rate > 0.5
    share = max(served.values()) / sum(served.values())
    figures: dict[str, object] = {
        "followed": followed,
        "repeats": repeats,
        "hit_rate": rate,
        "engines_used": used,
        "busiest_engine_share": share,
    }
    if engines > 1:
        warn_unbalanced(served)
    figures["router_decisions"] = _router_decisions(probe.endpoints)
    return Verdict(
        "prefixaware",
        passed,
        f"{followed}/{repeats} repeats of {len(prefixes)} long prefixes went to the engine "
        f"holding them; prefix-cache hit rate on repeats {rate:.0%}; {used} engines used",
        figures,
    )


def warn_unbalanced(served: Counter[str]) -> str:
    """Say so when one engine served more than WARN_SHARE of the requests, naming the knob that
    changes it; return what was said ("" when balanced)."""
    busiest, count = served.most_common(1)[0]
    share = count / sum(served.values())
    if share <= WARN_SHARE:
        return ""
    line = (
        f"⚠️  {busiest} served {share:.0%} of the requests (more than {WARN_SHARE:.0%}): the "
        f"prefix cache wins while other engines idle; {BALANCE_KNOBS} set when the router "
        "balances load instead"
    )
    say(line)
    return line


def _router_decisions(endpoints: Endpoints) -> dict[str, float]:
    """vllm-router's prefix-routing decisions by outcome (e.g. prefix_hit, missing_tokens)."""
    if not endpoints.router_metrics:
        return {}
    try:
        outcomes = by_label(
            endpoints.router_metrics, "vllm_router_prefix_routing_decisions_total", "outcome"
        )
    except httpx.HTTPError:
        return {}
    told = ", ".join(f"{k}={v:.0f}" for k, v in outcomes.items()) or "none reported"
    say(f"    the router's own account of its prefix decisions: {told}")
    return outcomes


def _long_prefix(topic: int) -> str:
    # Differs from the other prefixes in its first characters, as a real document would.
    words = " ".join(f"w{topic}x{i}" for i in range(PREFIX_WORDS))
    return f"Document {topic}: {words}."


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())
