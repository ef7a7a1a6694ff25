"""The simulated engine as users run it: its own process (`python -m lab.sim`), spoken to over
HTTP. Timing assertions allow for a loaded two-core machine: they check what the timeline
guarantees (never early, late by milliseconds), not microseconds."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.sim import SimEngine, SimOptions, running
from lab.sim.server import Sim

MODEL = "lab:tiny-llama"
CHAT = [{"role": "user", "content": "Tell me about the vLLM production stack, briefly."}]


@pytest.fixture(scope="module")
def fast() -> Iterator[SimEngine]:
    with running(SimOptions(name="fast-sim")) as sim:
        yield sim


@pytest.fixture(scope="module")
def timed_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sim") / "send.jsonl"


@pytest.fixture(scope="module")
def timed(timed_log) -> Iterator[SimEngine]:
    options = SimOptions(name="timed", ttft_ms=50, tpot_ms=10, send_log=str(timed_log))
    with running(options) as sim:
        yield sim


@functools.cache
def client() -> httpx.Client:
    """One client for all streams, so no request pays for making one (its SSL context alone
    takes tens of milliseconds) inside its measured TTFT."""
    return httpx.Client(timeout=30)


class Stream:
    """One streamed request as a client sees it: headers, events, and when each arrived."""

    def __init__(self, url: str, path: str, body: dict, stop_after: int | None = None) -> None:
        self.events: list[dict] = []
        self.times: list[float] = []  # perf_counter of each data event with choices
        self.done = False
        request = client().build_request("POST", url + path, json={**body, "stream": True})
        self.start = time.perf_counter()
        got = client().send(request, stream=True)
        try:
            self.status, self.headers = got.status_code, got.headers
            for line in got.iter_lines():
                if line == "data: [DONE]":
                    self.done = True
                elif line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    self.events.append(event)
                    if event["choices"]:
                        self.times.append(time.perf_counter())
                    if stop_after is not None and len(self.times) >= stop_after:
                        break
        finally:
            got.close()

    @property
    def ttft(self) -> float:
        return self.times[0] - self.start

    @property
    def tpot(self) -> float:
        return (self.times[-1] - self.times[0]) / (len(self.times) - 1)

    @property
    def text(self) -> str:
        choices = [event["choices"][0] for event in self.events if event["choices"]]
        return "".join(c.get("text") or c.get("delta", {}).get("content") or "" for c in choices)


def scrape(sim: SimEngine) -> dict[str, float]:
    """Sample name -> value, summed over label sets."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(sim.metrics_url).text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


@pytest.mark.timing
def test_starts_in_well_under_two_seconds_and_lists_its_model(fast):
    assert fast.startup_seconds < 2.0
    answer = httpx.get(f"{fast.url}/v1/models")
    assert answer.status_code == 200
    assert [model["id"] for model in answer.json()["data"]] == [MODEL]
    assert httpx.get(f"{fast.url}/health").status_code == 200


def test_every_response_names_the_engine(fast):
    for method, path in [("GET", "/health"), ("GET", "/metrics"), ("GET", "/nowhere")]:
        assert httpx.request(method, fast.url + path).headers["x-lab-engine"] == "fast-sim"
    chat = httpx.post(f"{fast.url}/v1/chat/completions", json={"messages": CHAT, "max_tokens": 2})
    assert chat.headers["x-lab-engine"] == "fast-sim"
    assert (
        Stream(fast.url, "/v1/completions", {"prompt": "x", "max_tokens": 2}).headers[
            "x-lab-engine"
        ]
        == "fast-sim"
    )


def test_streaming_chat_opens_with_the_role_then_one_token_per_chunk_then_usage(fast):
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 5}
    stream = Stream(
        fast.url, "/v1/chat/completions", body | {"stream_options": {"include_usage": True}}
    )
    assert stream.status == 200 and stream.done
    assert stream.headers["content-type"].startswith("text/event-stream")
    first, *tokens, usage = stream.events
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [event["choices"][0]["delta"]["content"] for event in tokens] == [" tok"] * 5
    assert [event["choices"][0]["finish_reason"] for event in tokens] == [None] * 4 + ["length"]
    assert usage["choices"] == []
    prompt = usage["usage"]["prompt_tokens"]
    assert usage["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": 5,
        "total_tokens": prompt + 5,
    }
    assert len({event["id"] for event in stream.events}) == 1


def test_streaming_completion_takes_token_ids_as_the_router_sends_them(fast):
    body = {"prompt": list(range(100, 140)), "max_tokens": 3}
    stream = Stream(fast.url, "/v1/completions", body | {"stream_options": {"include_usage": True}})
    *tokens, usage = stream.events
    assert [event["choices"][0]["text"] for event in tokens] == [" tok"] * 3
    assert tokens[0]["object"] == "text_completion" and stream.done
    assert usage["usage"]["prompt_tokens"] == 40
    without_usage = Stream(fast.url, "/v1/completions", body)
    assert len(without_usage.events) == 3 and without_usage.done


def test_non_streaming_answers_one_choice_per_prompt(fast):
    body = {"prompt": ["first prompt", "second"], "max_tokens": 4, "ignore_eos": True}
    answer = httpx.post(f"{fast.url}/v1/completions", json=body).json()
    assert [choice["text"] for choice in answer["choices"]] == [" tok tok tok tok"] * 2
    assert answer["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 8,
        "total_tokens": 13,
        "prompt_tokens_details": None,
    }
    chat = httpx.post(
        f"{fast.url}/v1/chat/completions", json={"messages": CHAT, "max_completion_tokens": 3}
    ).json()
    assert chat["choices"][0]["message"]["content"] == " tok tok tok"
    assert chat["choices"][0]["finish_reason"] == "length"


def test_refuses_what_vllm_refuses(fast):
    post = lambda path, body: httpx.post(fast.url + path, json=body)  # noqa: E731
    assert post("/v1/completions", {"prompt": [1] * 2000, "max_tokens": 100}).status_code == 400
    assert post("/v1/completions", {"prompt": "x", "model": "other"}).status_code == 404
    assert post("/v1/chat/completions", {"messages": []}).status_code == 400
    bad = httpx.post(f"{fast.url}/v1/completions", content=b"{not json")
    assert bad.status_code == 400 and "message" in bad.json()["error"]


def test_metrics_carry_vllm_names_and_move_with_each_request(fast):
    before = scrape(fast)
    usage = httpx.post(
        f"{fast.url}/v1/chat/completions", json={"messages": CHAT, "max_tokens": 6}
    ).json()["usage"]
    after = scrape(fast)
    moved = {name: after[name] - before.get(name, 0.0) for name in after}
    assert moved["vllm:request_success_total"] == 1
    assert moved["vllm:prompt_tokens_total"] == usage["prompt_tokens"]
    assert moved["vllm:generation_tokens_total"] == 6
    assert moved["vllm:prefix_cache_queries_total"] == usage["prompt_tokens"]
    assert moved["vllm:time_to_first_token_seconds_count"] == 1
    assert moved["vllm:e2e_request_latency_seconds_count"] == 1
    for gauge in ("vllm:num_requests_running", "vllm:num_requests_waiting"):
        assert after[gauge] == 0
    assert 0 <= after["vllm:kv_cache_usage_perc"] <= 1
    page = httpx.get(fast.metrics_url).text
    assert 'vllm:request_success_total{engine="0",finished_reason="length",model_name="' in page


def test_zero_delays_stream_long_outputs_without_sleeping(fast):
    started = time.perf_counter()
    stream = Stream(fast.url, "/v1/completions", {"prompt": "x", "max_tokens": 2000})
    assert len(stream.times) == 2000
    assert time.perf_counter() - started < 5


@pytest.mark.timing
def test_ttft_and_tpot_follow_the_configured_timeline(timed):
    streams = [
        Stream(timed.url, "/v1/completions", {"prompt": "hello", "max_tokens": 10})
        for _ in range(5)
    ]
    ttft = statistics.median(stream.ttft for stream in streams) * 1000
    tpot = statistics.median(stream.tpot for stream in streams) * 1000
    assert 49 <= ttft <= 65, ttft
    assert 7 <= tpot <= 13, tpot


@pytest.mark.timing
def test_send_log_has_every_chunk_time(timed, timed_log):
    Stream(timed.url, "/v1/chat/completions", {"messages": CHAT, "max_tokens": 8})
    last = json.loads(timed_log.read_text().splitlines()[-1])
    assert last["endpoint"] == "/v1/chat/completions" and last["finished_reason"] == "length"
    assert last["tokens"] == 8 and len(last["chunk_times"]) == 8
    assert last["first_token"] == last["chunk_times"][0]
    assert last["last_token"] == last["chunk_times"][-1]
    # Never early (token i is due 50 + 10 i ms after admission), late by milliseconds; a late
    # token does not delay the next, so the last one is on time too.
    since = [at - last["admitted"] for at in last["chunk_times"]]
    assert all(since[i] >= 0.050 + i * 0.010 - 0.001 for i in range(8)), since
    assert since[-1] <= 0.050 + 7 * 0.010 + 0.015, since


def test_a_client_that_leaves_aborts_its_request_and_frees_its_slot(timed):
    before = scrape(timed)
    Stream(timed.url, "/v1/completions", {"prompt": "x", "max_tokens": 200}, stop_after=2)
    time.sleep(0.2)
    after = scrape(timed)
    assert after["vllm:num_requests_running"] == 0
    moved = after["vllm:generation_tokens_total"] - before["vllm:generation_tokens_total"]
    assert 2 <= moved < 200
    page = httpx.get(timed.metrics_url).text
    assert 'finished_reason="abort",model_name="lab:tiny-llama"} 1.0' in page


def test_batch_capacity_queues_the_rest_in_arrival_order(tmp_path):
    log = tmp_path / "send.jsonl"
    options = SimOptions(ttft_ms=200, tpot_ms=20, max_batch=2, send_log=str(log))
    duration = (200 + 9 * 20) / 1000
    with running(options) as sim:
        ttfts, peaks = asyncio.run(_four_at_once(sim))
    assert peaks["vllm:num_requests_waiting"] >= 1
    assert peaks["vllm:num_requests_running"] == 2
    assert sorted(ttfts)[2] >= duration  # the two that waited: a whole request, then ttft
    records = sorted(map(json.loads, log.read_text().splitlines()), key=lambda r: r["admitted"])
    early_end = min(record["last_token"] for record in records[:2])
    assert all(record["admitted"] >= early_end - 0.001 for record in records[2:])


async def _four_at_once(sim: SimEngine) -> tuple[list[float], dict[str, float]]:
    """TTFTs of four concurrent streams, and the gauges' peaks while they ran."""
    peaks: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=30) as client:

        async def ttft() -> float:
            body = {"prompt": "hello", "max_tokens": 10, "stream": True}
            start, first = time.perf_counter(), None
            async with client.stream("POST", f"{sim.url}/v1/completions", json=body) as got:
                async for line in got.aiter_lines():
                    if first is None and line.startswith("data: {"):
                        first = time.perf_counter() - start
            assert first is not None
            return first

        streams = asyncio.gather(*(ttft() for _ in range(4)))
        while not streams.done():
            page = (await client.get(sim.metrics_url)).text
            for family in text_string_to_metric_families(page):
                for sample in family.samples:
                    peaks[sample.name] = max(peaks.get(sample.name, 0.0), sample.value)
            await asyncio.sleep(0.02)
        return await streams, peaks


def test_prefix_cache_hits_repeated_prompts_and_shortens_their_prefill(tmp_path):
    log = tmp_path / "send.jsonl"
    with running(SimOptions(ttft_per_prompt_token_ms=2.0, send_log=str(log))) as sim:
        body = {"prompt": list(range(161)), "max_tokens": 2}
        before = scrape(sim)
        cold = Stream(sim.url, "/v1/completions", body)
        middle = scrape(sim)
        Stream(sim.url, "/v1/completions", body)
        after = scrape(sim)
        chat = {"messages": CHAT * 8, "max_tokens": 2}
        httpx.post(f"{sim.url}/v1/chat/completions", json=chat)
        chat_before = scrape(sim)["vllm:prefix_cache_hits_total"]
        httpx.post(f"{sim.url}/v1/chat/completions", json=chat)
        chat_after = scrape(sim)["vllm:prefix_cache_hits_total"]
    hits, queries = "vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"
    assert middle[hits] - before[hits] == 0
    assert after[hits] - middle[hits] == 160
    assert after[queries] - before[queries] == 322
    assert chat_after > chat_before
    first, second = (json.loads(line) for line in log.read_text().splitlines()[:2])
    assert (first["cached_tokens"], second["cached_tokens"]) == (0, 160)
    prefill = [record["first_token"] - record["admitted"] for record in (first, second)]
    assert cold.ttft >= 0.322 and prefill[0] >= 0.322  # 161 uncached tokens at 2 ms
    assert prefill[1] < prefill[0] / 2  # 1 uncached token


def test_eos_min_tokens_and_ignore_eos():
    with running(SimOptions(eos_after=3)) as sim:

        def finish(**extra: object) -> tuple[int, str]:
            body = {"prompt": "x", "max_tokens": 10, **extra}
            choice = httpx.post(f"{sim.url}/v1/completions", json=body).json()["choices"][0]
            return choice["text"].count("tok"), choice["finish_reason"]

        assert finish() == (3, "stop")
        assert finish(min_tokens=5) == (5, "stop")
        assert finish(ignore_eos=True) == (10, "length")


def test_sigterm_stops_it_with_the_send_log_whole(tmp_path):
    log = tmp_path / "send.jsonl"
    with running(SimOptions(tpot_ms=50, send_log=str(log))) as sim:
        httpx.post(f"{sim.url}/v1/completions", json={"prompt": "x", "max_tokens": 2})
        got_two = threading.Event()

        def long_stream() -> None:
            with (
                httpx.stream(
                    "POST",
                    f"{sim.url}/v1/completions",
                    json={"prompt": "y", "max_tokens": 500, "stream": True},
                ) as answer,
                pytest.raises(httpx.HTTPError),
            ):
                for count, _ in enumerate(answer.iter_lines()):
                    if count >= 3:
                        got_two.set()

        reader = threading.Thread(target=long_stream)
        reader.start()
        assert got_two.wait(10)
        os.kill(sim.pid, signal.SIGTERM)
        reader.join(10)
    done, aborted = (json.loads(line) for line in log.read_text().splitlines())
    assert (done["tokens"], done["finished_reason"]) == (2, "length")
    assert aborted["finished_reason"] == "abort"
    assert 2 <= aborted["tokens"] < 500 and len(aborted["chunk_times"]) == aborted["tokens"]


def test_each_fault_meets_its_own_share_of_requests_spread_evenly() -> None:
    sim = Sim(SimOptions(error_share=0.2, cut_share=0.3, stall_share=0.1))
    met = [sim.fault() for _ in range(1000)]
    counts = Counter(met)
    assert abs(counts["error_share"] - 200) <= 3, counts
    assert abs(counts["cut_share"] - 300) <= 3, counts
    assert abs(counts["stall_share"] - 100) <= 3, counts
    assert abs(counts[""] - 400) <= 3, counts
    # Evenly: any 20 requests in a row hold 4 errors, give or take two (never a run of them).
    assert all(2 <= met[i : i + 20].count("error_share") <= 6 for i in range(980))
