"""The readers held to vLLM's own dataset loaders (vllm.benchmarks.datasets, installed with the
engine extra), on the same files, compared with what each loader keeps: ShareGPTDataset's first
turns, BurstGPTDataset's rows (GPT-4, answered), TimedTrace's timestamps, lengths and shared
prefixes (its chunk size set to the lab's block_tokens)."""

from __future__ import annotations

from collections import Counter

import pytest

from lab.config import model
from lab.traces import blocks, detect
from lab.traces.prepare import Options, Trace
from lab.traces.tokens import ModelTokens
from tests.helpers import traces

# Importing vLLM takes 20 s or more on a busy machine: full CI only, imported by the fixture
# so that collecting the fast tier does not pay it.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def datasets():
    # TimedTrace is not among the package's exports in vLLM 0.32: its module, then.
    return pytest.importorskip("vllm.benchmarks.datasets.datasets", reason="the engine extra")


@pytest.fixture(scope="module")
def tokens() -> ModelTokens:
    model.ensure_tiny()
    return ModelTokens(str(model.tiny_dir()))


def test_sharegpt_first_turns_are_vllms(tmp_path, tokens, datasets) -> None:
    path = traces.sharegpt(tmp_path / "sharegpt.json")
    theirs = datasets.ShareGPTDataset(dataset_path=str(path), random_seed=0).sample(
        tokenizer=tokens.tokenizer, num_requests=len(traces.CONVERSATIONS), no_oversample=True
    )
    # vLLM counts the reply with the special tokens its tokenizer adds; the engine's answer
    # has none of them, and the lab counts without.
    added = len(tokens.tokenizer("").input_ids)
    vllm = {(s.prompt, s.expected_output_len - added) for s in theirs}
    _, requests = detect.read(path, "sharegpt", 512)
    first = [r for r in requests if r.turn == 0]
    ours = {((r.messages or [])[-1]["content"], tokens.count(r.reply)) for r in first}
    assert len(vllm) == len(traces.CONVERSATIONS)
    assert ours == vllm


def test_burstgpt_rows_are_vllms(tmp_path, tokens, datasets) -> None:
    path = traces.burstgpt(tmp_path / "burstgpt.csv", rows=40)
    loader = datasets.BurstGPTDataset(dataset_path=str(path), random_seed=0)
    kept = len(loader.data)
    theirs = loader.sample(tokenizer=tokens.tokenizer, num_requests=kept, no_oversample=True)
    vllm = Counter((s.prompt_len, s.expected_output_len) for s in theirs)
    _, requests = detect.read(path, "csv", 512)
    ours = Counter((r.length, r.output) for r in requests if r.labels.get("Model") == "GPT-4")
    assert kept > 5
    assert ours == vllm


def test_mooncake_timestamps_lengths_and_shared_prefixes_are_timed_traces(
    tmp_path, tokens, datasets
) -> None:
    path = traces.mooncake(tmp_path / "mooncake.jsonl", requests=12, shared=3, own=2, block=32)
    loader = datasets.TimedTrace(
        dataset_path=str(path),
        random_seed=0,
        timed_trace_chunk_hash_size=32,
        timed_trace_label_timestamp="timestamp",
        timed_trace_label_input_length="input_length",
        timed_trace_label_output_length="output_length",
        timed_trace_label_hash_ids="hash_ids",
    )
    theirs = loader.sample(tokenizer=tokens.tokenizer, num_requests=12, no_oversample=True)
    trace = Trace(path, Options(block_tokens=32), tokens)
    ours = [item.line for item in trace.items()]
    assert [s.timestamp for s in theirs] == [line["at"] for line in ours]
    assert [(s.prompt_len, s.expected_output_len) for s in theirs] == [
        (line["n"], line["out"]) for line in ours
    ]
    prompts = [blocks.from_blocks(line["blocks"], line["n"], 0, 32, tokens.vocab) for line in ours]

    def shared(a: list[int], b: list[int]) -> int:
        return next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )

    for index in range(1, 12):
        assert shared(prompts[0], prompts[index]) == shared(theirs[0].prompt, theirs[index].prompt)
