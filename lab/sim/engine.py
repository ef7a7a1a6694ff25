"""The simulated engine's scheduler: batch slots, a FIFO wait queue, a prefix cache, timing.

What a request costs is set on the command line, not measured: a request admitted into a batch
slot at time A emits its first token at A + ttft + prefill cost of its uncached prompt tokens,
and token i at that time + i * tpot, on absolute deadlines so sleeps never accumulate drift.
Beyond `max_batch` running requests, new ones wait in arrival order, as vLLM's scheduler
queues requests it has no room for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from lab.sim.metrics import SimMetrics
from lab.sim.run import Run


@dataclass(frozen=True)
class Timing:
    """Seconds. ttft counts from admission into a batch slot, not from arrival."""

    ttft: float = 0.0
    tpot: float = 0.0
    prefill_per_token: float = 0.0

    def first_token_delay(self, uncached_tokens: int) -> float:
        return self.ttft + self.prefill_per_token * uncached_tokens


class Slots:
    """At most `capacity` holders at once (0: unlimited); the rest wait in arrival order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.running = 0
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def acquire(self) -> None:
        if not self._queue and (self.capacity <= 0 or self.running < self.capacity):
            self.running += 1
            return
        ticket = asyncio.get_running_loop().create_future()
        self._queue.append(ticket)
        try:
            await ticket  # release() hands its slot over: `running` already counts us
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            else:
                self._queue.remove(ticket)
            raise

    def release(self) -> None:
        while self._queue:
            ticket = self._queue.popleft()
            if not ticket.done():
                ticket.set_result(None)
                return
        self.running -= 1


class PrefixCache:
    """vLLM-style automatic prefix caching, in token counts only: full blocks of prompt token
    IDs, each keyed by a hash chained over the whole prefix before it, kept in an LRU of
    `blocks` entries. A hit is the run of leading cached blocks; as in vLLM, the last prompt
    token is always computed, so a prompt never hits in full."""

    def __init__(self, blocks: int, block_size: int) -> None:
        self.blocks = blocks
        self.block_size = block_size
        self._lru: OrderedDict[int, None] = OrderedDict()

    def block_hashes(self, tokens: list[int]) -> list[int]:
        size, parent, hashes = self.block_size, 0, []
        for start in range(0, len(tokens) - size + 1, size):
            parent = hash((parent, tuple(tokens[start : start + size])))
            hashes.append(parent)
        return hashes

    def admit(self, tokens: list[int]) -> int:
        """Prompt tokens found cached; then the prompt's full blocks are cached (most recent)."""
        hashes = self.block_hashes(tokens)
        usable = (len(tokens) - 1) // self.block_size
        hit_blocks = 0
        for block in hashes[:usable]:
            if block not in self._lru:
                break
            hit_blocks += 1
        for block in hashes:
            self._lru[block] = None
            self._lru.move_to_end(block)
        while len(self._lru) > self.blocks:
            self._lru.popitem(last=False)
        return hit_blocks * self.block_size


class Engine:
    """Admits requests into batch slots and accounts for them in the vLLM metrics."""

    def __init__(
        self,
        timing: Timing,
        metrics: SimMetrics,
        max_batch: int = 0,
        kv_blocks: int = 4096,
        block_size: int = 16,
        prefix_caching: bool = True,
    ) -> None:
        self.timing = timing
        self.metrics = metrics
        self.slots = Slots(max_batch)
        self.block_size = block_size
        self.kv_blocks = kv_blocks
        self.cache = PrefixCache(kv_blocks, block_size) if prefix_caching else None
        self.used_blocks = 0
        metrics.running.set_function(lambda: self.slots.running)
        metrics.waiting.set_function(lambda: self.slots.waiting)
        metrics.kv_usage.set_function(self.kv_usage)

    def kv_usage(self) -> float:
        """Blocks reserved by running requests (prompt plus output) over all blocks, at most 1."""
        return min(1.0, self.used_blocks / self.kv_blocks) if self.kv_blocks else 0.0

    @contextlib.asynccontextmanager
    async def admit(
        self, prompts: list[list[int]], output_tokens: int, arrival: float
    ) -> AsyncIterator[Run]:
        """Wait for a batch slot, look the prompts up in the prefix cache, yield the Run; on
        exit free the slot and count the request (as aborted unless the server finished it).
        `arrival` is the loop time the request arrived."""
        loop = asyncio.get_running_loop()
        await self.slots.acquire()
        run = self._start(prompts, output_tokens, arrival, loop.time())
        try:
            yield run
        finally:
            self.slots.release()
            self.used_blocks -= run.blocks
            self.metrics.finished(run, loop.time(), len(prompts))

    def _start(self, prompts: list[list[int]], output: int, arrival: float, now: float) -> Run:
        prompt_tokens = sum(len(prompt) for prompt in prompts)
        cached = sum(self.cache.admit(prompt) for prompt in prompts) if self.cache else 0
        blocks = sum(-(-(len(prompt) + output) // self.block_size) for prompt in prompts)
        self.used_blocks += blocks
        self.metrics.admitted(prompt_tokens, cached, self.cache is not None, now - arrival)
        delay = self.timing.first_token_delay(prompt_tokens - cached)
        return Run(prompt_tokens, cached, arrival, now, now + delay, blocks)


def output_length(
    max_tokens: int, min_tokens: int, ignore_eos: bool, eos_after: int | None
) -> tuple[int, str]:
    """(tokens to generate, finish reason). The simulated model says EOS after `eos_after`
    tokens (never, when None); min_tokens defers it and ignore_eos ignores it, as in vLLM."""
    if eos_after is None or ignore_eos:
        return max_tokens, "length"
    natural = max(eos_after, min_tokens)
    return (natural, "stop") if natural < max_tokens else (max_tokens, "length")
