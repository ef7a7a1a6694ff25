"""The trace readers, sampling, cutting, figures and export, on files made here in each real
format (no stack)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
import pytest

from lab.config import model
from lab.errors import ConfigError
from lab.inproc import prompts
from lab.inproc.samples import SAMPLE_COLUMNS
from lab.traces import detect, export
from lab.traces.prepare import Options, Trace
from lab.traces.tokens import ModelTokens
from tests.helpers import traces
from tests.helpers.runs import RR1, copy, edit_manifest

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "trace.schema.json").read_text())


@pytest.mark.parametrize(
    ("make", "name", "expected"),
    [
        (traces.mooncake, "t.jsonl", "mooncake"),
        (traces.sharegpt, "t.json", "sharegpt"),
        (lambda path: traces.sharegpt(path, jsonl=True), "t.jsonl", "sharegpt"),
        (traces.openai_batch, "t.jsonl", "openai-chat"),
        (traces.burstgpt, "t.csv", "csv"),
        (traces.azure, "t.csv", "csv"),
    ],
)
def test_auto_decides_each_format_from_its_content(tmp_path, make, name, expected) -> None:
    assert detect.decide(make(tmp_path / name)) == expected


def test_sharegpt_turns_carry_their_history_and_the_recorded_replies(tmp_path) -> None:
    _, requests = detect.read(traces.sharegpt(tmp_path / "t.json"), "sharegpt", 512)
    first = [r for r in requests if r.session == "conv-1"]
    assert [r.turn for r in first] == [0, 1, 2]
    assert [len(r.messages or []) for r in first] == [1, 3, 5]
    said = traces.CONVERSATIONS[1]["conversations"]
    assert (first[2].messages or [])[1]["content"] == said[1]["value"]  # a recorded reply
    assert first[1].reply == said[3]["value"]


def test_burstgpt_leaves_out_failed_rows_and_azure_counts_from_its_first_time(tmp_path) -> None:
    _, read = detect.read(traces.burstgpt(tmp_path / "b.csv", rows=14), "csv", 512)
    burst = list(read)
    assert [r.output for r in burst if r.output == 0] == []
    assert len(burst) == 14 - 2  # rows 3 and 10 logged 0 response tokens
    _, azure = detect.read(traces.azure(tmp_path / "a.csv", rows=3), "csv", 512)
    assert [(r.at_ms, r.length, r.output) for r in azure] == [
        (0.0, 30, 5),
        (1000.0, 31, 6),
        (2000.0, 32, 7),
    ]


@pytest.fixture(scope="module")
def tokens() -> ModelTokens:
    model.ensure_tiny()
    return ModelTokens(str(model.tiny_dir()))


def test_a_sample_keeps_whole_sessions(tmp_path, tokens) -> None:
    path = traces.sharegpt(tmp_path / "t.json")
    by_requests = Trace(path, Options(sample=("requests", 4), output_tokens=2), tokens)
    assert {item.session for item in by_requests.items()} == {"conv-0", "conv-1"}
    seeded = Trace(path, Options(sample=("sessions", 2), sample_seed=3, output_tokens=2), tokens)
    chosen = [item.session for item in seeded.items()]
    assert len(chosen) == 6 and len(set(chosen)) == 2
    with pytest.raises(ConfigError, match="sample: expected at most the trace's 4 sessions"):
        list(Trace(path, Options(sample=("sessions", 5), output_tokens=2), tokens).items())


def test_timed_mode_needs_timestamps(tmp_path) -> None:
    path = traces.openai_batch(tmp_path / "t.jsonl")
    with pytest.raises(ConfigError, match="mode: timed needs timestamps"):
        list(Trace(path, Options(timed=True)).items())


def test_truncate_cuts_a_long_prompt_to_fit_and_otherwise_all_are_counted(tmp_path) -> None:
    path = traces.mooncake(tmp_path / "t.jsonl", requests=3, shared=4, own=1, block=512)
    limit = Options(block_tokens=512, max_model_len=2048)
    with pytest.raises(ConfigError, match=r"3 prompt\(s\) are longer"):
        list(Trace(path, limit).items())
    cut = Options(block_tokens=512, max_model_len=2048, truncate=True)
    items = list(Trace(path, cut).items())
    assert [item.line["n"] + item.output for item in items] == [2048] * 3
    assert [len(item.line["blocks"]) for item in items] == [4, 4, 4]


def test_stats_count_rates_lengths_and_reuse(tmp_path) -> None:
    path = traces.mooncake(tmp_path / "t.jsonl", requests=20, shared=6, own=4, gap_ms=100)
    tally = Trace(path, Options(block_tokens=64)).tally()
    assert (tally.requests, len(tally.sessions)) == (20, 20)
    assert tally.peaks == {1.0: 10, 10.0: 20}
    assert tally.duration_s == pytest.approx(1.9)
    # Request 0 reuses nothing, each later one its 6 shared blocks of 64 of its 630 tokens.
    assert tally.reuse == pytest.approx(19 * 6 * 64 / (20 * 630))


def test_a_recorded_prompt_reads_back_as_it_was() -> None:
    ids = [5, 0, 2**31 + 7, 99]
    assert prompts.read(prompts.record({"prompt": ids})) == {"prompt_token_ids": ids}
    chat = [{"role": "user", "content": "héllo"}]
    assert prompts.read(prompts.record({"messages": chat})) == {"messages": chat}
    assert prompts.record({"prompt": list(range(100_000))}) == ""  # beyond the cap


def replayed(manifest: dict) -> None:
    manifest["scenarios"] = [
        {"name": "replay", "kind": "replay", "status": "completed", "started": "t0",
         "ended": "t1", "levels": ["timed"], "error": ""}
    ]  # fmt: skip


def test_an_export_is_a_lab_trace_in_the_order_requests_were_due(tmp_path) -> None:
    run = copy(RR1, tmp_path / "run")  # a real run's manifest, rewritten to a replay run's
    edit_manifest(run, replayed)
    (run / "replay").mkdir()
    for name in ("engines.csv", "summary.json"):
        (run / "replay" / name).write_text("")  # present, as a finished level's are; not read
    rows = [
        {
            "start_time": "100.500",
            "lag_ms": "400",
            "round": "1",
            "session": "s",
            "prompt": prompts.record({"prompt": [1, 2, 3]}),
            "output_tokens": "4",
        },
        {
            "start_time": "100.000",
            "lag_ms": "0",
            "round": "0",
            "session": "s",
            "prompt": prompts.record({"messages": [{"role": "user", "content": "hi"}]}),
            "output_tokens": "2",
        },
        {"start_time": "100.200", "status": "error", "prompt": "", "output_tokens": "0"},
    ]
    with (run / "replay" / "requests.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, SAMPLE_COLUMNS, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({"level": "timed", "status": "ok", **row})
    written = export.write(run, None, tmp_path / "out.jsonl")
    assert (written.requests, written.failed, written.level) == (2, 1, "replay/timed")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    for line in lines:
        jsonschema.validate(line, SCHEMA)
    assert [line["offset_ms"] for line in lines] == [0, 100]
    assert lines[1]["prompt_token_ids"] == [1, 2, 3] and lines[0]["turn"] == 0
    _, again = detect.read(tmp_path / "out.jsonl", "auto", 512)
    assert [r.output for r in again] == [2, 4]


def test_a_text_trace_without_transformers_is_one_line_not_a_traceback(
    tmp_path, monkeypatch
) -> None:
    """The lab without its engine extra: no transformers to count text with."""
    import builtins

    from lab.inproc import chat_tokens

    real = builtins.__import__

    def without_transformers(name: str, *args, **kwargs):
        if name.startswith("transformers"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    chat_tokens.tokenizer.cache_clear()
    monkeypatch.setattr(builtins, "__import__", without_transformers)
    with pytest.raises(ConfigError, match="transformers is not installed here"):
        chat_tokens.tokenizer(str(tmp_path))
    chat_tokens.tokenizer.cache_clear()
