"""The JSONL formats and CSV, one reader each: every line checked, field by field, as it is
read (docs/traces.md says each format's fields). ShareGPT is lab.traces.sharegpt."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from lab import files
from lab.errors import ConfigError
from lab.traces import lines
from lab.traces.model import (
    Order,
    Request,
    bad,
    chat,
    count,
    mapping,
    millis,
    need,
    own_session,
    text,
    token_ids,
)

PROMPTS = ("prompt_token_ids", "prompt", "messages")  # the lab format's ways to give a prompt


def lab(path: Path, block_tokens: int) -> Iterator[Request]:
    """The lab's own JSONL (schemas/trace.schema.json)."""
    order = Order()
    for where, value in lines.json_lines(path):
        record = mapping(where, value)
        at = order.check(
            where, "offset_ms", millis(where, "offset_ms", need(where, record, "offset_ms"))
        )
        given = [name for name in PROMPTS if name in record]
        if len(given) != 1:
            raise bad(where, "prompt", f"exactly one of {', '.join(PROMPTS)}", given or None)
        request = Request(
            where,
            at,
            str(record.get("session") or own_session(where)),
            count(where, "turn", record.get("turn", 0), least=0),
        )
        if "prompt_token_ids" in record:
            request.ids = token_ids(where, "prompt_token_ids", record["prompt_token_ids"])
        elif "prompt" in record:
            request.text = text(where, "prompt", record["prompt"])
        else:
            request.messages = chat(where, "messages", record["messages"])
        request.output = count(where, "output_tokens", need(where, record, "output_tokens"))
        yield request


def mooncake(path: Path, block_tokens: int) -> Iterator[Request]:
    """Mooncake's JSONL: timestamp (ms), input_length, output_length, hash_ids (one per block of
    `block_tokens`; the last block cut to input_length)."""
    order = Order()
    for where, value in lines.json_lines(path):
        record = mapping(where, value)
        at = order.check(
            where, "timestamp", millis(where, "timestamp", need(where, record, "timestamp"))
        )
        length = count(where, "input_length", need(where, record, "input_length"))
        output = count(where, "output_length", need(where, record, "output_length"))
        hashes = token_ids(where, "hash_ids", need(where, record, "hash_ids"))
        if len(hashes) * block_tokens < length:
            raise bad(
                where,
                "hash_ids",
                f"enough blocks of {block_tokens} tokens for "
                f"input_length {length} (block_tokens may differ from the trace's)",
                f"{len(hashes)} blocks",
            )
        session = str(record.get("session_id") or own_session(where))
        yield Request(
            where,
            at,
            session,
            blocks=hashes[: math.ceil(length / block_tokens)],
            length=length,
            output=output,
        )


def openai_chat(path: Path, block_tokens: int) -> Iterator[Request]:
    """One chat request per line: the body itself, or an OpenAI batch line ({custom_id, body})."""
    for where, value in lines.json_lines(path):
        record = mapping(where, value)
        session = str(record.get("custom_id") or own_session(where))
        body = mapping(where, record["body"]) if "body" in record else record
        messages = chat(where, "messages", need(where, body, "messages"))
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if limit is None:
            raise bad(
                where, "max_tokens", "max_tokens or max_completion_tokens (the answer's length)"
            )
        yield Request(
            where, None, session, messages=messages, output=count(where, "max_tokens", limit)
        )


# CSV traces: the columns each source names its fields by, as they are.
CSV_COLUMNS = {
    "burstgpt": ("Timestamp", "Request tokens", "Response tokens"),
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "lab": ("timestamp_ms", "input_tokens", "output_tokens"),
}
LABELS = ("Model", "Log Type")  # BurstGPT's, kept with each request


def csv_dialect(header: str) -> str:
    """Which CSV trace a header line is, or ""."""
    names = [name.strip() for name in header.strip().split(",")]
    return next((d for d, cols in CSV_COLUMNS.items() if all(c in names for c in cols)), "")


def csv(path: Path, block_tokens: int) -> Iterator[Request]:
    """BurstGPT (seconds from its start), Azure (date and time) or the lab's own columns (ms).
    BurstGPT logs failed requests as 0 response tokens: those rows are left out (as vLLM's
    BurstGPT loader does); in the others 0 is refused."""
    dialect = csv_dialect(lines.first_line(path))
    if not dialect:
        expected = "; ".join(", ".join(cols) for cols in CSV_COLUMNS.values())
        raise ConfigError(f"{path}:1: header: expected the columns of one of: {expected}")
    stamp, inputs, outputs = CSV_COLUMNS[dialect]
    order, start = Order(), None
    for number, row in files.csv_rows(path, "trace", CSV_COLUMNS[dialect]):
        where = f"{path}:{number}"
        at = _csv_time(where, stamp, row[stamp], dialect)
        start = at if start is None else start
        order.check(where, stamp, at - start if at >= start else -1.0)
        output = _csv_count(where, outputs, row[outputs], least=0)
        if output == 0 and dialect == "burstgpt":
            continue
        if output == 0:
            raise bad(where, outputs, "a whole number of at least 1", 0)
        labels = {name: row[name] for name in LABELS if name in row}
        yield Request(
            where,
            at - start,
            own_session(where),
            length=_csv_count(where, inputs, row[inputs]),
            output=output,
            labels=labels,
        )


def _csv_time(where: str, name: str, value: str, dialect: str) -> float:
    """The row's time in ms, from whatever origin its source counts."""
    if dialect == "azure":
        try:  # "2023-11-16 18:15:46.6805900": Python takes 6 digits of fraction
            head, _, fraction = value.strip().partition(".")
            moment = datetime.fromisoformat(f"{head}.{(fraction or '0')[:6]}")
        except ValueError:
            raise bad(where, name, "a date and time (2023-11-16 18:15:46.680)", value) from None
        return moment.timestamp() * 1000
    try:
        number = float(value)
    except ValueError:
        raise bad(where, name, "a number", value) from None
    if not math.isfinite(number) or number < 0:
        raise bad(where, name, "a timestamp of 0 or more", value)
    return number * 1000 if dialect == "burstgpt" else number


def _csv_count(where: str, name: str, value: str, least: int = 1) -> int:
    try:
        number: Any = float(value)
    except ValueError:
        raise bad(where, name, "a whole number", value) from None
    return count(where, name, number if math.isfinite(number) else value, least)
