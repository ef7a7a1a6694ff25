"""The referee: when each request reached the engine and when its first chunk left, written on
the engine's side by its middleware (lab.inproc.engine_tag), so that a client's TTFT can be
held against the engine's own clock. Any client is refereed alike: a request keeps the ID it
carries (x-request-id, which vllm bench serve sends when it has one) or is given one, which the
answer returns in x-lab-request-id.

It is off unless $LAB_REFEREE_DIR names a folder; each engine then appends one JSON line per
API request to <folder>/<engine>.jsonl:

    {"id": ..., "engine": ..., "path": "/v1/chat/completions", "arrived": <Unix time>,
     "first_chunk_ms": ..., "first_text_ms": ..., "end_ms": ..., "status": 200}

`first_chunk_ms` is the first body chunk written: vLLM's first token, the TTFT that clients
are held to (vLLM streams a chunk per token, a chat stream's role chunk with the first one).
`first_text_ms` is the first chunk that carries generated text: later when the first tokens'
text is empty (lab.inproc.streaming says when). Both from arrival; null when there was none.
The engine histograms cannot serve: their buckets (…10, 20, 40 ms…) cannot resolve a few
milliseconds at medians near 20 ms.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import IO, Any

from lab import files

DIR_ENV = "LAB_REFEREE_DIR"
REQUEST_HEADER = b"x-request-id"
ANSWER_NAME = "x-lab-request-id"  # requests.csv keeps it as referee_id (lab.inproc.llm_user)
ANSWER_HEADER = ANSWER_NAME.encode()
REFEREED_PREFIX = "/v1/"
FILE_SUFFIX = ".jsonl"


class Referee:
    """One engine's referee log, opened on first use."""

    def __init__(self, folder: str, engine: str) -> None:
        self.path = Path(folder) / f"{engine}{FILE_SUFFIX}"
        self.engine = engine
        self._file: IO[str] | None = None

    @classmethod
    def from_env(cls, engine: str) -> Referee | None:
        folder = os.environ.get(DIR_ENV)
        return cls(folder, engine) if folder else None

    def begin(self, scope: dict[str, Any]) -> Call | None:
        """The record of a request starting now; None for a path the referee does not time."""
        path = scope.get("path", "")
        if not path.startswith(REFEREED_PREFIX):
            return None
        carried = dict(scope.get("headers", [])).get(REQUEST_HEADER, b"")
        return Call(self, carried.decode("latin-1") or uuid.uuid4().hex, path)

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", buffering=1)  # a line at a time: a kill loses none
        self._file.write(json.dumps(record) + "\n")


class Call:
    """One request's times, from its arrival at the engine's API server."""

    def __init__(self, referee: Referee, request_id: str, path: str) -> None:
        self.referee = referee
        self.id = request_id
        self.path = path
        self.arrived = time.time()
        self.began = time.perf_counter()
        self.status = 0
        self.first_chunk_ms: float | None = None
        self.first_text_ms: float | None = None
        self.written = False

    def header(self) -> tuple[bytes, bytes]:
        return ANSWER_HEADER, self.id.encode("latin-1", "replace")

    def started(self, status: int) -> None:
        self.status = status

    def chunk(self, body: bytes) -> None:
        """A body chunk leaving now."""
        if not body or self.first_text_ms is not None:
            return
        now = self._ms()
        if self.first_chunk_ms is None:
            self.first_chunk_ms = now
        if carries_text(body):
            self.first_text_ms = now

    def end(self) -> None:
        """The answer's last byte left (or the request ended without one): written once."""
        if self.written:
            return
        self.written = True
        self.referee.write(
            {
                "id": self.id,
                "engine": self.referee.engine,
                "path": self.path,
                "arrived": self.arrived,
                "first_chunk_ms": self.first_chunk_ms,
                "first_text_ms": self.first_text_ms,
                "end_ms": self._ms(),
                "status": self.status,
            }
        )

    def _ms(self) -> float:
        return (time.perf_counter() - self.began) * 1000


def carries_text(body: bytes) -> bool:
    """Whether a chunk of an answer carries generated text: a server-sent event whose choice has
    non-empty content or text, or a whole (not streamed) JSON answer."""
    for line in body.split(b"\n"):
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            continue
        try:
            event = json.loads(data)
        except ValueError:
            continue
        for choice in event.get("choices") or []:
            if (choice.get("delta") or {}).get("content") or choice.get("text"):
                return True
    return body.lstrip().startswith(b"{")


def read(folder: Path) -> list[dict[str, Any]]:
    """Every engine's records in `folder`, in order of arrival."""
    records = [
        files.plain(json.loads(line), str(path))
        for path in sorted(folder.glob(f"*{FILE_SUFFIX}"))
        for line in files.read_text(path, "referee log").splitlines()
        if line.strip()
    ]
    return sorted(records, key=lambda record: record["arrived"])
