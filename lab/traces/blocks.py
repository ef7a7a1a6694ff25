"""Token IDs of prompts known only by their blocks or length, made the same way wherever they
are made (the lab, each Locust process): a Mooncake hash id becomes one block of token IDs fixed
by the id and the seed, so equal ids give equal blocks; a length alone becomes tokens no other
request shares."""

from __future__ import annotations

import random
from functools import lru_cache

LOWEST = 100  # token IDs from here up: clear of the special tokens tokenizers put first
CACHE_BLOCK = 16  # tokens per block the stats count token-ID prompts in (vLLM's default block)


@lru_cache(maxsize=4096)
def block(hash_id: int, seed: int, size: int, vocab: int) -> tuple[int, ...]:
    rng = random.Random(f"block:{seed}:{hash_id}")
    return tuple(rng.randrange(LOWEST, vocab) for _ in range(size))


def from_blocks(hash_ids: list[int], length: int, seed: int, size: int, vocab: int) -> list[int]:
    """The prompt of Mooncake blocks, the last one cut to `length` tokens in all."""
    ids: list[int] = []
    for hash_id in hash_ids:
        ids.extend(block(hash_id, seed, size, vocab))
    return ids[:length]


def fill(key: int, length: int, seed: int, vocab: int) -> list[int]:
    """`length` tokens of request `key` alone."""
    rng = random.Random(f"fill:{seed}:{key}")
    return [rng.randrange(LOWEST, vocab) for _ in range(length)]


def chained(ids: list[int]) -> list[tuple[int, int]]:
    """(key, tokens) of a token-ID prompt's full blocks of CACHE_BLOCK, each key standing for
    the whole prefix up to its block's end, as a prefix cache keys them; the last partial
    block counts again only after the very same prompt (an engine never hits it)."""
    keys: list[tuple[int, int]] = []
    key = 0
    for start in range(0, len(ids), CACHE_BLOCK):
        chunk = tuple(ids[start : start + CACHE_BLOCK])
        key = hash((key, chunk)) if len(chunk) == CACHE_BLOCK else hash((key, chunk, "partial"))
        keys.append((key, len(chunk)))
    return keys
