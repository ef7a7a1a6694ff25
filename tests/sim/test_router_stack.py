"""Simulated engines behind the real vllm-router: the router accepts them as vLLM workers,
round_robin spreads chat over both, and cache_aware routes token-ID completions by prefix.
Marked `stack` because it needs the vllm-router binary (the engine extra); it takes seconds."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.sim import SimEngine, SimOptions, running

pytestmark = pytest.mark.stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def router(engines: list[SimEngine], policy: str, log: Path) -> Iterator[tuple[str, str]]:
    """(router URL, router metrics URL) of a vllm-router over these engines."""
    binary = Path(sys.executable).parent / "vllm-router"
    port, metrics = free_port(), free_port()
    command = [
        str(binary) if binary.exists() else shutil.which("vllm-router") or "vllm-router",
        *("--worker-urls", *(engine.url for engine in engines)),
        *("--policy", policy, "--host", "127.0.0.1", "--port", str(port)),
        *("--prometheus-host", "127.0.0.1", "--prometheus-port", str(metrics)),
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _healthy(url):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        yield url, f"http://127.0.0.1:{metrics}/metrics"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def two_sims() -> Iterator[list[SimEngine]]:
    with running(SimOptions(name="sim-a")) as a, running(SimOptions(name="sim-b")) as b:
        yield [a, b]


def test_round_robin_spreads_chat_over_both_engines(engines_installed, two_sims, tmp_path):
    chat = {"model": "lab:tiny-llama", "messages": [{"role": "user", "content": "hi"}]}
    with router(two_sims, "round_robin", tmp_path / "router.log") as (url, _):
        served = [
            httpx.post(f"{url}/v1/chat/completions", json=chat | {"max_tokens": 2}, timeout=10)
            for _ in range(6)
        ]
        streamed = httpx.post(
            f"{url}/v1/chat/completions",
            json=chat
            | {"max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}},
            timeout=10,
        )
    assert [answer.status_code for answer in served] == [200] * 6
    assert Counter(answer.headers["x-lab-engine"] for answer in served) == {"sim-a": 3, "sim-b": 3}
    assert streamed.text.count('"content":" tok"') == 3
    assert '"completion_tokens":3' in streamed.text and streamed.text.endswith("data: [DONE]\n\n")


def test_cache_aware_routes_token_id_completions_by_prefix(engines_installed, two_sims, tmp_path):
    prompts = [list(range(1000 * i, 1000 * i + 200)) for i in range(1, 5)]
    with router(two_sims, "cache_aware", tmp_path / "router.log") as (url, metrics):
        first, again = {}, {}
        for rounds in (first, again):
            for index, prompt in enumerate(prompts):
                body = {"model": "lab:tiny-llama", "prompt": prompt, "max_tokens": 2}
                answer = httpx.post(f"{url}/v1/completions", json=body, timeout=10)
                assert answer.status_code == 200, answer.text
                rounds[index] = answer.headers["x-lab-engine"]
        decisions = _samples(metrics, "vllm_router_prefix_routing_decisions_total", "outcome")
    assert again == first  # each repeat went to the engine that holds its prefix
    assert decisions.get("prefix_hit", 0) >= len(prompts)
    hits = sum(
        _samples(engine.metrics_url, "vllm:prefix_cache_hits_total", "engine")["0"]
        for engine in two_sims
    )
    assert hits == len(prompts) * 192  # (200 - 1) // 16 blocks of each repeated prompt


def _samples(url: str, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for sample in family.samples:
            if sample.name == name:
                key = sample.labels.get(label, "")
                out[key] = out.get(key, 0.0) + sample.value
    return out
