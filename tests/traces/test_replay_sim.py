"""Replay on simulated engines behind the real vllm-router: a Mooncake trace's prefix sharing
reaches the engine's prefix cache, a run exported as a trace and replayed sends the very same
prompts, and ShareGPT conversations keep their turns in order."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.config import profile
from lab.load import scenarios
from lab.traces import export
from lab.traces.prepare import Options, Trace
from tests.helpers import traces
from tests.helpers.rendering import without_report
from tests.helpers.simstack import sim_stack

# One engine whose prefix cache holds every block of the traces here.
ENGINE = "engine.simulated={ttft_ms: 2, tpot_ms: 2, kv_blocks: 100000}"
SETS = [ENGINE, "observability.prometheus=false", "engine.replicas=1"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator:
    with sim_stack(tmp_path_factory.mktemp("state"), "engine.replicas=1", simulated=ENGINE) as up:
        yield up


def replay(stack, tmp_path: Path, monkeypatch, *sets: str, **fields) -> Path:
    """A run of one replay scenario; its folder."""
    without_report(monkeypatch)
    platform, current = stack
    scenario = {"name": "replay", "kind": "replay", **fields}
    lab = profile.load("cpu", [*SETS, f"scenarios=[{json.dumps(scenario)}]", *sets])
    return scenarios.run(lab, current, ["replay"], tmp_path / "results", platform)


def samples(folder: Path) -> list[dict[str, str]]:
    with (folder / "replay" / "requests.csv").open() as file:
        return list(csv.DictReader(file))


def hit_rate(folder: Path) -> float:
    with (folder / "replay" / "engines.csv").open() as file:
        rows = list(csv.DictReader(file))
    hits = sum(float(row["prefix_cache_hits"]) for row in rows)
    return hits / sum(float(row["prefix_cache_queries"]) for row in rows)


def test_a_mooncake_trace_keeps_its_prefix_sharing_and_an_export_replays_it_exactly(
    stack, tmp_path, monkeypatch
) -> None:
    trace = traces.mooncake(tmp_path / "mooncake.jsonl", requests=40, shared=6, own=4)
    theory = Trace(trace, Options(block_tokens=64)).tally().reuse
    assert 0.55 < theory < 0.65
    first = replay(
        stack,
        tmp_path / "a",
        monkeypatch,
        source=str(trace),
        block_tokens=64,
        mode="timed",
        speedup=4,
    )
    sent = [row for row in samples(first) if row["status"] == "ok"]
    assert len(sent) == 40
    assert abs(hit_rate(first) - theory) <= 0.05, (hit_rate(first), theory)
    # summary.json keeps both, for the report's table (lab.results.replay_figures).
    levels = json.loads((first / "replay" / "summary.json").read_text())["levels"]
    kept = levels["timed"]["replay"]
    assert kept["theoretical_reuse"] == pytest.approx(theory)
    assert kept["measured_hit_rate"] == pytest.approx(hit_rate(first), abs=0.01)
    assert kept["sent_rps"] > 0 and kept["trace_rate_rps"] > 0
    lag = sorted(float(row["lag_ms"]) for row in sent)
    assert lag[int(0.9 * len(lag))] < 500  # loose: the figure itself is benchmarks/replay_timing

    exported = export.write(first, None, tmp_path / "exported.jsonl")
    assert exported.requests == 40
    again = replay(
        stack,
        tmp_path / "b",
        monkeypatch,
        source=str(tmp_path / "exported.jsonl"),
        mode="timed",  # at the offsets the first run sent at (already sped up)
    )
    resent = [row for row in samples(again) if row["status"] == "ok"]

    def prompts(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
        return sorted(
            (hashlib.sha256(r["prompt"].encode()).hexdigest(), r["output_tokens"]) for r in rows
        )

    assert prompts(resent) == prompts(sent)

    def offsets(rows: list[dict[str, str]]) -> list[float]:
        due = sorted(float(r["start_time"]) - float(r["lag_ms"]) / 1000 for r in rows)
        return [at - due[0] for at in due]

    apart = sorted(abs(a - b) for a, b in zip(offsets(resent), offsets(sent), strict=True))
    assert apart[int(0.9 * len(apart))] < 0.25, apart  # loose, as the lag bound above


@pytest.mark.parametrize(
    "processes", [1, pytest.param(2, marks=pytest.mark.slow)], ids=["one", "two-processes"]
)
def test_sharegpt_conversations_keep_their_turns_in_order(
    stack, tmp_path, monkeypatch, processes
) -> None:
    trace = traces.sharegpt(tmp_path / "sharegpt.json")
    folder = replay(
        stack,
        tmp_path,
        monkeypatch,
        f"load.processes={processes}",
        source=str(trace),
        mode="concurrency",
        concurrency=[4],
    )
    turns = defaultdict(list)
    workers = defaultdict(set)  # a user's number modulo the processes is its process's index
    for row in samples(folder):
        assert row["status"] == "ok", row
        workers[row["session"]].add(int(row["user"]) % processes)
        turns[row["session"]].append(
            (float(row["start_time"]), int(row["round"]), int(row["prompt_tokens"]))
        )
    assert sorted(turns) == [f"conv-{n}" for n in range(4)]
    assert all(len(sent_by) == 1 for sent_by in workers.values()), workers
    for session, sent in turns.items():
        sent.sort()
        assert [turn for _, turn, _ in sent] == [0, 1, 2], session
        lengths = [length for _, _, length in sent]
        assert lengths == sorted(lengths) and len(set(lengths)) == 3, (session, lengths)
