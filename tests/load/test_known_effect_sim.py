"""The known effect (engine.test_delay) on simulated engines behind the real vllm-router: the
client's TTFT grows by the set amount."""

from __future__ import annotations

import statistics
import time

import httpx

from tests.helpers.simstack import sim_stack


def median_ttft_ms(router: str, count: int = 15) -> float:
    """Median ms from sending a streamed completion to its first chunk."""
    times = []
    with httpx.Client(timeout=10) as client:
        for i in range(count):
            body = {"model": "tiny-llama", "prompt": f"hello {i}", "max_tokens": 3, "stream": True}
            sent = time.perf_counter()
            with client.stream("POST", f"{router}/v1/completions", json=body) as answer:
                assert answer.status_code == 200
                next(answer.iter_lines())
                times.append((time.perf_counter() - sent) * 1000)
    return statistics.median(times)


def test_a_test_delay_shows_in_ttft_by_the_set_amount(tmp_path) -> None:
    sim = "engine.simulated={ttft_ms: 50, tpot_ms: 5}"
    with sim_stack(tmp_path / "plain", simulated=sim) as (_, current):
        plain = median_ttft_ms(current.require_endpoints().router)
    delay = "engine.test_delay={first_chunk_ms: 40, ttft_share: 0.2}"
    with sim_stack(tmp_path / "slowed", delay, simulated=sim) as (_, current):
        assert current.profile["engine"]["test_delay"]["ttft_share"] == 0.2
        slowed = median_ttft_ms(current.require_endpoints().router)
    # 40 ms, and 20% of the 50 ms ttft_ms: 50 ms more; loopback and a busy machine add noise.
    assert 35 < slowed - plain < 80, (plain, slowed)
