"""The known timeline: one JSON line per request with the wall-clock time each chunk was
handed to the socket, so a benchmark can tell which client measures TTFT and TPOT right.

Times are `time.time()` (comparable across processes on one machine); `arrival_mono` is the
matching `time.monotonic()`, for clients that time with a monotonic clock. Each line is
flushed as it is written, so the file is whole after SIGTERM (or even SIGKILL).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO


class SendLog:
    def __init__(self, path: str | Path) -> None:
        self._file: TextIO | None = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def record(
    *,
    rid: str,
    client_id: str | None,
    endpoint: str,
    stream: bool,
    prompt_tokens: int,
    cached_tokens: int,
    max_tokens: int,
    arrival: float,
    arrival_mono: float,
    admitted: float,
    chunk_times: list[float],
    tokens: int,
    finished_reason: str,
) -> dict[str, Any]:
    """One request's line. `chunk_times` holds one time per token chunk (streams) or the time
    the whole body was written (non-streaming requests)."""
    return {
        "id": rid,
        "client_request_id": client_id,
        "endpoint": endpoint,
        "stream": stream,
        "prompt_tokens": prompt_tokens,
        "cached_tokens": cached_tokens,
        "max_tokens": max_tokens,
        "arrival": arrival,
        "arrival_mono": arrival_mono,
        "admitted": admitted,
        "first_token": chunk_times[0] if chunk_times else None,
        "last_token": chunk_times[-1] if chunk_times else None,
        "tokens": tokens,
        "finished_reason": finished_reason,
        "chunk_times": chunk_times,
    }


def as_referee(path: Path) -> list[dict[str, Any]]:
    """The log in the engine referee's terms (lab.inproc.referee), so that a benchmark on the
    simulated engine refers to it as to the referee of a real one: when each request arrived,
    and its first and last token left (the last token, not the stream's end marker)."""
    records = []
    for line in path.read_text().splitlines() if path.exists() else []:
        sent = json.loads(line)
        first, last = sent["first_token"], sent["last_token"]
        records.append(
            {
                "id": sent["id"],
                "engine": "sim",
                "arrived": sent["arrival"],
                "first_chunk_ms": None if first is None else (first - sent["arrival"]) * 1000,
                "first_text_ms": None if first is None else (first - sent["arrival"]) * 1000,
                "end_ms": None if last is None else (last - sent["arrival"]) * 1000,
                "status": 200,
            }
        )
    return records
