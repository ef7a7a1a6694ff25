"""Smoke test of a running stack with the openai client: through the router, then against
each engine directly. Every check is printed with ✅/❌ and its duration; any failure names it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import openai

from lab.console import bad, ok
from lab.errors import StepFailed
from lab.stack.endpoints import Endpoints
from lab.stack.metrics import SERVED, scrape

PROMPT = "The router sends this request to"
TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    name: str
    passed: bool
    seconds: float
    detail: str


def run(endpoints: Endpoints) -> list[Result]:
    """Run every check; raise StepFailed naming the failed ones after all have run."""
    results = []
    # Engines read through Prometheus cannot be reached from here: the router stands for them.
    direct = [e for e in endpoints.engines if not e.prometheus]
    targets = [("router", endpoints.router)] + [(e.name, e.url) for e in direct]
    for target, url in targets:
        client = openai.OpenAI(
            base_url=f"{url}/v1", api_key=endpoints.api_key, timeout=TIMEOUT, max_retries=0
        )
        for check, what in CHECKS:
            call = functools.partial(what, client, endpoints)
            results.append(_timed(f"{target}: {check}", call))
    for engine in direct:
        results.append(
            _timed(f"{engine.name}: /metrics", functools.partial(_metrics, engine.metrics))
        )
    failed = [r.name for r in results if not r.passed]
    if failed:
        raise StepFailed(f"smoke test failed: {', '.join(failed)}")
    return results


def _timed(name: str, check: Callable[[], str]) -> Result:
    began = time.perf_counter()
    try:
        detail, passed = check(), True
    except Exception as exc:  # any failure of a check is its result, reported by name
        detail, passed = f"{type(exc).__name__}: {exc}", False
    result = Result(name, passed, time.perf_counter() - began, detail)
    line = f"{name} ({result.seconds * 1000:.0f} ms): {detail}"
    ok(line) if passed else bad(line)
    return result


def _models(client: openai.OpenAI, endpoints: Endpoints) -> str:
    ids = [m.id for m in client.models.list().data]
    if endpoints.model not in ids:
        raise AssertionError(f"model {endpoints.model} not listed (got {ids})")
    return f"serves {endpoints.model}"


def _completion(client: openai.OpenAI, endpoints: Endpoints) -> str:
    reply = client.completions.create(
        model=endpoints.model, prompt=PROMPT, max_tokens=8, temperature=0
    )
    tokens = reply.usage.completion_tokens if reply.usage else 0
    if not reply.choices or tokens < 1:
        raise AssertionError("no tokens in the completion")
    return f"{tokens} tokens"


def _chat(client: openai.OpenAI, endpoints: Endpoints) -> str:
    reply = client.chat.completions.create(
        model=endpoints.model,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=8,
        temperature=0,
    )
    tokens = reply.usage.completion_tokens if reply.usage else 0
    if not reply.choices or tokens < 1:
        raise AssertionError("no tokens in the chat completion")
    return f"{tokens} tokens, finish_reason={reply.choices[0].finish_reason}"


def _stream(client: openai.OpenAI, endpoints: Endpoints) -> str:
    chunks, finish = 0, None
    stream = client.chat.completions.create(
        model=endpoints.model,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=8,
        temperature=0,
        stream=True,
    )
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    if chunks < 2:
        raise AssertionError(f"{chunks} chunk(s): the answer did not stream")
    if finish is None:
        raise AssertionError(f"{chunks} chunks but no final chunk with a finish_reason")
    return f"{chunks} chunks, ended by finish_reason={finish}"


def _metrics(url: str) -> str:
    snapshot = scrape(url)
    vllm = [name for name in snapshot if name.startswith("vllm:")]
    if not vllm:
        raise AssertionError("no vllm: metrics exported")
    return f"{len(vllm)} vllm: series, {snapshot.get(SERVED, 0):.0f} requests served"


CHECKS: tuple[tuple[str, Callable[[openai.OpenAI, Endpoints], str]], ...] = (
    ("list models", _models),
    ("completion", _completion),
    ("chat completion", _chat),
    ("streamed chat completion", _stream),
)
