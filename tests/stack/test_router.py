"""The vllm-router client against the real vllm-router 0.1.17 over simulated engines: what its
admin API answers, and which policies count each worker's requests in flight (what a drain
reads)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import httpx
import pytest

from lab.config import commandlines, profile
from lab.load import resilience
from lab.sim import SimOptions, running
from lab.stack import processes
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.router import Router
from tests.helpers.lab import port_shift
from tests.helpers.simstack import needs_router


@contextlib.contextmanager
def router_over(urls: list[str], routing: str, tmp_path, *sets: str) -> Iterator[Router]:
    needs_router()
    lab = profile.load("cpu", [f"router.routing={routing}", *sets])
    port = processes.free_port(31050 + port_shift())
    metrics = processes.free_port(31550 + port_shift())
    proc = processes.spawn(
        "router", commandlines.router_command(lab, urls, port, metrics), tmp_path / "router.log"
    )
    router = Router(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics}/metrics",
                    commandlines.POLICIES[routing])  # fmt: skip
    try:
        assert processes.wait_until(router.healthy, timeout=20), processes.tail(proc.log)
        yield router
    finally:
        processes.stop(proc, grace=2)


def stream(router: Router, done: list[int]) -> None:
    body = {"model": "tiny-llama", "prompt": "hello", "max_tokens": 15, "stream": True}
    with httpx.stream("POST", f"{router.url}/v1/completions", json=body, timeout=30) as answer:
        for _ in answer.iter_lines():
            pass
        done.append(answer.status_code)


@pytest.fixture(scope="module")
def engines() -> Iterator[list[str]]:
    """Two simulated engines, shared: each test starts its own router over them, and every
    stream a test opens ends within it."""
    options = SimOptions(served_model_name="tiny-llama", tpot_ms=100)  # 15 tokens: 1.5 s
    with running(options) as one, running(options) as two:
        yield [one.url, two.url]


def test_cache_aware_counts_requests_in_flight_even_after_a_worker_is_removed(
    engines, tmp_path
) -> None:
    with router_over(engines, "prefixaware", tmp_path) as router:
        assert router.counts_load
        assert {w.url for w in router.workers()} == set(engines)
        done: list[int] = []
        threads = [threading.Thread(target=stream, args=(router, done)) for _ in range(4)]
        for thread in threads:
            thread.start()
        assert processes.wait_until(
            lambda: sum(router.in_flight(url) or 0 for url in engines) == 4,
            timeout=5,
            interval=0.05,
        )
        assert sum(w.load for w in router.workers()) == 4
        leaving = engines[1]
        busy = router.in_flight(leaving)
        assert busy
        assert router.remove_worker(leaving) == f"Successfully removed worker: {leaving}"
        assert [w.url for w in router.workers()] == [engines[0]]  # gone from /workers...
        assert router.in_flight(leaving) == busy  # ...still counted in its metrics
        for thread in threads:
            thread.join()
        assert done == [200] * 4  # the removed worker's streams ran to their end
        assert router.in_flight(leaving) == 0
        assert "Successfully added worker" in router.add_worker(leaving)


def test_round_robin_keeps_no_count_so_a_drain_does_not_ask_it(engines, tmp_path) -> None:
    with router_over(engines, "roundrobin", tmp_path) as router:
        assert not router.counts_load and router.in_flight(engines[0]) is None
        done: list[int] = []
        thread = threading.Thread(target=stream, args=(router, done))
        thread.start()
        processes.wait_until(lambda: False, timeout=0.5)
        assert all(w.load == 0 for w in router.workers())  # in flight, but not counted
        thread.join()
        assert done == [200]


def healthy_workers(router: Router) -> int:
    return sum(worker.healthy for worker in router.workers())


def test_the_load_waits_until_the_router_takes_a_restarted_engine_back(engines, tmp_path) -> None:
    """vllm-router takes a worker back only after two passed health checks in a row: a
    resilience run goes on loading until it has, so that the restarted engine is seen serving."""
    port = processes.free_port(31150 + port_shift())
    options = SimOptions(served_model_name="tiny-llama")
    back = Engine("engine-1", f"http://127.0.0.1:{port}")
    down = contextlib.ExitStack()
    down.enter_context(running(options, port=port))
    urls = [engines[0], back.url]
    with router_over(urls, "roundrobin", tmp_path, "router.health_check_interval=1") as router:
        down.close()  # the engine dies; three failed checks later the router leaves it out
        assert processes.wait_until(lambda: healthy_workers(router) == 1, timeout=20)
        with running(options, port=port):
            endpoints = Endpoints(router.url, (Engine("engine-0", engines[0]), back),
                                  "tiny-llama", "roundrobin", "x-user-id")  # fmt: skip
            resilience.await_router(endpoints, 1)
            assert healthy_workers(router) == 2
