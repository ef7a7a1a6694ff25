"""The simulated engine's pieces in-process: tokens, prefix cache, batch slots, output length,
request parsing and the CLI's round trip. No server, no sleeps."""

from __future__ import annotations

import asyncio

import pytest

from lab.sim import SimOptions, api, tokens
from lab.sim.__main__ import options as parse_cli
from lab.sim.engine import PrefixCache, Slots, output_length
from lab.sim.tokens import PromptError


def test_text_tokens_are_deterministic_and_share_prefixes():
    first = tokens.encode("You are a helpful assistant. Question one")
    second = tokens.encode("You are a helpful assistant. Question two")
    assert first == tokens.encode("You are a helpful assistant. Question one")
    assert first[0] == tokens.BOS and len(first) == 8
    assert first[:-1] == second[:-1] and first[-1] != second[-1]


def test_completion_prompt_forms():
    assert tokens.completion_prompts([5, 6, 7]) == [[5, 6, 7]]
    assert tokens.completion_prompts([[5, 6], [7]]) == [[5, 6], [7]]
    assert tokens.completion_prompts(["a b", "c"]) == [tokens.encode("a b"), tokens.encode("c")]
    assert tokens.encode("a b") == [tokens.BOS, tokens.piece_id("a"), tokens.piece_id(" b")]


@pytest.mark.parametrize("prompt", [[], [1, "a"], [[]], None, 3, [-1]])
def test_bad_prompts_are_refused(prompt):
    with pytest.raises(PromptError):
        tokens.completion_prompts(prompt)


def test_chat_content_parts_render_like_strings():
    plain = [{"role": "user", "content": "hello there"}]
    parts = [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]
    assert tokens.chat_prompt(plain) == tokens.chat_prompt(parts)


def test_prefix_cache_hits_leading_full_blocks_but_never_the_last_token():
    cache = PrefixCache(blocks=100, block_size=16)
    prompt = list(range(64))
    assert cache.admit(prompt) == 0
    assert cache.admit(prompt) == 48  # (64 - 1) // 16 blocks: the last token is computed
    assert cache.admit([*prompt, 99]) == 64
    assert cache.admit([0, *prompt]) == 0  # shifted: every block hash differs (chained)
    assert cache.admit([*range(32), *range(1000, 1040)]) == 32


def test_prefix_cache_evicts_least_recently_used():
    cache = PrefixCache(blocks=4, block_size=4)
    a, b = list(range(17)), list(range(100, 117))
    cache.admit(a)
    cache.admit(b)  # four more blocks: a's are gone
    assert cache.admit(a) == 0
    assert cache.admit(a) == 16


def test_slots_queue_in_arrival_order_and_pass_on_cancelled_turns():
    async def scenario() -> list[str]:
        slots, order = Slots(1), []
        await slots.acquire()

        async def waiter(name: str) -> None:
            await slots.acquire()
            order.append(name)
            slots.release()

        tasks = [asyncio.create_task(waiter(name)) for name in "abc"]
        await asyncio.sleep(0)
        assert (slots.running, slots.waiting) == (1, 3)
        tasks[1].cancel()
        await asyncio.sleep(0)
        assert slots.waiting == 2
        slots.release()
        await asyncio.gather(tasks[0], tasks[2])
        assert (slots.running, slots.waiting) == (0, 0)
        return order

    assert asyncio.run(scenario()) == ["a", "c"]


def test_unlimited_slots_never_wait():
    async def scenario() -> tuple[int, int]:
        slots = Slots(0)
        for _ in range(100):
            await slots.acquire()
        return slots.running, slots.waiting

    assert asyncio.run(scenario()) == (100, 0)


@pytest.mark.parametrize(
    ("max_tokens", "min_tokens", "ignore_eos", "eos_after", "expected"),
    [
        (16, 0, False, None, (16, "length")),
        (16, 0, False, 4, (4, "stop")),
        (16, 0, True, 4, (16, "length")),
        (16, 8, False, 4, (8, "stop")),
        (3, 0, False, 4, (3, "length")),
    ],
)
def test_output_length(max_tokens, min_tokens, ignore_eos, eos_after, expected):
    assert output_length(max_tokens, min_tokens, ignore_eos, eos_after) == expected


def test_max_tokens_defaults_to_the_rest_of_the_context_and_is_bounded_by_it():
    job = api.parse({"prompt": [1] * 10}, chat=False, max_model_len=100)
    assert job.max_tokens == 90
    chat = api.parse(
        {"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 7},
        chat=True,
        max_model_len=100,
    )
    assert chat.max_tokens == 7
    with pytest.raises(PromptError, match="maximum context length is 100"):
        api.parse({"prompt": [1] * 10, "max_tokens": 91}, chat=False, max_model_len=100)
    with pytest.raises(PromptError, match="min_tokens"):
        api.parse({"prompt": [1], "max_tokens": 2, "min_tokens": 3}, chat=False, max_model_len=9)


def test_cli_round_trips_the_options():
    options = SimOptions(
        name="e1",
        served_model_name="m",
        ttft_ms=50,
        tpot_ms=10,
        ttft_per_prompt_token_ms=0.5,
        max_batch=2,
        kv_blocks=64,
        block_size=8,
        prefix_caching=False,
        max_model_len=512,
        eos_after=5,
        send_log="/tmp/x.jsonl",
    )
    assert parse_cli([*options.argv(), "--port", "0"]) == (options, 0)
    assert parse_cli(SimOptions(name="e2").argv())[0] == SimOptions(name="e2")


def test_engine_name_defaults_to_lab_engine_name_then_sim(monkeypatch):
    monkeypatch.setenv("LAB_ENGINE_NAME", "engine-3")
    assert parse_cli([])[0].name == "engine-3"
    assert SimOptions().engine_name == "engine-3"
    monkeypatch.delenv("LAB_ENGINE_NAME")
    assert parse_cli([])[0].name == "sim"
