"""A trace made ready to send: read (lab.traces.detect), sampled by whole sessions, text
tokenized once with the served model's tokenizer, output lengths set, prompts checked against
the engines' max_model_len (or cut, with truncate), and written as the schedule the replay
locustfile streams: one JSON line per request, in the trace's order."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from lab.errors import ConfigError
from lab.traces import blocks, detect
from lab.traces.model import Request
from lab.traces.stats import NEVER, Tally


class Tokens(Protocol):
    """The served model's tokenizer, as far as a trace needs it."""

    vocab: int

    def text(self, text: str) -> list[int]: ...

    def chat(self, messages: list[dict[str, str]]) -> list[int]: ...

    def count(self, text: str) -> int: ...


@dataclass(frozen=True)
class Options:
    format: str = "auto"
    block_tokens: int = 512
    seed: int = 0  # of Mooncake blocks, CSV fill and random sampling
    sample: tuple[str, int] | None = None  # ("sessions" | "requests", N)
    sample_seed: int | None = None  # None: sessions in the trace's order
    max_requests: int | None = None
    output_tokens: int | None = None  # None: from the trace
    max_model_len: int = 0  # 0: no limit (trace stats)
    truncate: bool = False
    timed: bool = False  # the mode needs the trace's timestamps


@dataclass
class Item:
    """One request ready to send: the schedule's line (`line`) and what the stats count."""

    line: dict[str, Any]
    at_ms: float | None
    session: str
    output: int
    keys: list[tuple[int, int]]


@dataclass
class Trace:
    path: Path
    options: Options
    tokens: Tokens | None = None

    def format(self) -> str:
        return detect.decide(self.path) if self.options.format == "auto" else self.options.format

    def items(self) -> Iterator[Item]:
        """Every request to send, checked; too-long prompts are refused once all are read,
        with their count."""
        chosen = self._chosen()
        too_long: list[str] = []
        taken = 0
        for request in self._read():
            if chosen is not None and request.session not in chosen:
                continue
            if self.options.max_requests is not None and taken >= self.options.max_requests:
                break
            item = self._item(request, taken, too_long)
            taken += 1
            yield item
        if too_long:
            raise ConfigError(
                f"{too_long[0]}: prompt: expected at most max_model_len "
                f"({self.options.max_model_len}) tokens with its output; {len(too_long)} "
                "prompt(s) are longer (the first here): set truncate: true to cut them"
            )

    def tally(self) -> Tally:
        tally = Tally()
        for item in self.items():
            tally.add(item.at_ms, item.session, item.output, item.keys)
        return tally

    def write(self, out: Path) -> Tally:
        """The schedule file; the figures of what it holds."""
        tally = Tally()
        with out.open("wb") as file:
            for item in self.items():
                file.write(orjson.dumps(item.line) + b"\n")
                tally.add(item.at_ms, item.session, item.output, item.keys)
        return tally

    def _read(self) -> Iterator[Request]:
        fmt, requests = detect.read(self.path, self.options.format, self.options.block_tokens)
        for request in requests:
            if self.options.timed and request.at_ms is None:
                raise ConfigError(
                    f"{self.path}: mode: timed needs timestamps, and {fmt} traces "
                    "have none: expected mode rate or concurrency"
                )
            yield request

    def _chosen(self) -> set[str] | None:
        """The sessions a sample keeps (None: all): whole sessions, in the trace's order or
        shuffled by the sample's seed, until N sessions or N requests."""
        if self.options.sample is None:
            return None
        unit, wanted = self.options.sample
        sizes: dict[str, int] = {}
        for request in self._read():
            sizes[request.session] = sizes.get(request.session, 0) + 1
        have = len(sizes) if unit == "sessions" else sum(sizes.values())
        if wanted > have:
            raise ConfigError(
                f"{self.path}: sample: expected at most the trace's {have} {unit}, got {wanted}"
            )
        order = list(sizes)
        if self.options.sample_seed is not None:
            random.Random(self.options.sample_seed).shuffle(order)
        chosen: set[str] = set()
        counted = 0
        for session in order:
            if counted >= wanted:
                break
            chosen.add(session)
            counted += 1 if unit == "sessions" else sizes[session]
        return chosen

    def _item(self, request: Request, index: int, too_long: list[str]) -> Item:
        line, keys = self._prompt(request, index)
        output = self._output(request)
        limit = self.options.max_model_len
        length = sum(size for _, size in keys)
        if limit and length + output > limit:
            if not self.options.truncate or output >= limit:
                too_long.append(request.where)
            else:
                line, keys = _cut(line, keys, limit - output)
        line.update({"at": request.at_ms, "s": request.session, "t": request.turn, "out": output})
        return Item(line, request.at_ms, request.session, output, keys)

    def _prompt(self, r: Request, index: int) -> tuple[dict[str, Any], list[tuple[int, int]]]:
        """The schedule's prompt (token IDs, or a recipe) and its blocks for the stats."""
        if r.blocks is not None:
            size = self.options.block_tokens
            keys = [(h, min(size, r.length - i * size)) for i, h in enumerate(r.blocks)]
            return {"blocks": r.blocks, "n": r.length}, keys
        if r.ids is None and r.text is None and r.messages is None:  # a length alone
            return {"fill": r.length, "key": index}, [(NEVER, r.length)]
        ids = r.ids if r.ids is not None else self._tokenize(r)
        return {"ids": ids}, blocks.chained(ids)

    def _tokenize(self, r: Request) -> list[int]:
        if self.tokens is None:
            raise ConfigError(
                f"{r.where}: prompt: text needs the served model's tokenizer, "
                "and there is none (a stack up, or --tokenizer)"
            )
        return (
            self.tokens.text(r.text) if r.text is not None else self.tokens.chat(r.messages or [])
        )

    def _output(self, r: Request) -> int:
        if self.options.output_tokens is not None:
            return self.options.output_tokens
        if r.output:
            return r.output
        if self.tokens is None:
            raise ConfigError(f"{r.where}: reply: its length needs the served model's tokenizer")
        counted = self.tokens.count(r.reply)
        if counted < 1:
            raise ConfigError(
                f"{r.where}: reply: expected at least 1 output token, got 0 (an empty reply)"
            )
        return counted


def _cut(
    line: dict[str, Any], keys: list[tuple[int, int]], length: int
) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The prompt cut to `length` tokens (truncate: true)."""
    if "ids" in line:
        ids = line["ids"][:length]
        return {"ids": ids}, blocks.chained(ids)
    kept: list[tuple[int, int]] = []
    for key, size in keys:
        left = length - sum(s for _, s in kept)
        if left <= 0:
            break
        kept.append((key, min(size, left)))
    if "blocks" in line:
        return {"blocks": line["blocks"][: len(kept)], "n": length}, kept
    return {**line, "fill": length}, kept
