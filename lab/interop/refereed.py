"""One turn of a client, and the engine referee's view of the same turn, as results folders that
`compare --paired` reads (benchmarks/locust_vs_vllm_bench.py): the lab's own requests.csv
(`lab_turn`) and the referee's records of the requests that reached the engines during the
turn (`referee_turn`, lab.inproc.referee). vllm bench serve's turn is imported as
`lab import vllm-bench --per-request` imports it. A `Series` keeps each in a folder of runs.

The referee times a request on the engine's side: TTFT from its arrival at the engine's API
server to its first chunk (vLLM's first token, lab.inproc.referee), E2E from arrival to its
last byte written. It counts no tokens, so TPOT and output tokens/s are n/a in its folder
(requests/s with them: one family), and it keeps no gaps between chunks, so ITL is n/a too.
Nothing is filled in for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab import files
from lab.interop import imported, vllm_bench
from lab.interop.imported import Imported, row

REFEREE = "referee"
LAB = "lab"
NO_TOKENS = "the engine referee counts no tokens, so it gives no TPOT"
NO_THROUGHPUT = (
    "the engine referee counts no tokens, so it gives no output tokens/s (nor requests/s, "
    "which compare holds in the same family)"
)
NO_GAPS = "the engine referee keeps the first chunk's time only, not the gaps after it"
REFEREE_DEFINITIONS = {
    "ttft": "engine side: from the request's arrival at the engine's API server to its first "
    "chunk, the first token (the referee's first_chunk_ms)",
    "e2e": "engine side: from the request's arrival to its last byte written (end_ms)",
}
LAB_DEFINITIONS = {"all": "the lab's own: its Locust client's requests.csv, as a run records it"}


@dataclass(frozen=True)
class Series:
    """The turns of a series, each a results folder in <place>/<client>/ (lab, vllm), and the
    referee's view of each in <place>/referee-<client>/: folders of runs, compare's sides."""

    place: Path
    records: Callable[[], list[dict[str, Any]]]  # the referee's records so far
    scenario: str = "bench"  # every turn holds its requests under this scenario and level
    level: str = "turn"

    def add(self, client: str, turn: Path, began: float, ended: float) -> None:
        """The turn a client's run left in `turn` (Unix times), and the referee's view of it;
        any other client (the lab with its users started together) is not in the series."""
        if client == "vllm":
            found = vllm_bench.read(turn / "vllm.json", per_request=True)
            imported.write(found, self._side(client), self.scenario, self.level)
        elif client == LAB:
            lab_turn(turn / "requests.csv", began, ended, self._side(client), self.scenario,
                     self.level)  # fmt: skip
        else:
            return
        records = self.records()
        if records:
            side = self._side(f"{REFEREE}-{client}")
            referee_turn(records, began, ended, side, self.scenario, self.level)

    def _side(self, name: str) -> Path:
        (self.place / name).mkdir(parents=True, exist_ok=True)
        return self.place / name


def referee_turn(
    records: list[dict[str, Any]],
    began: float,
    ended: float,
    base: Path,
    scenario: str,
    level: str,
) -> Path:
    """A results folder of the referee's records of requests that arrived between `began` and
    `ended` (Unix times): one row each, failed when the engine did not answer 200 with text."""
    mine = [r for r in records if began <= r["arrived"] <= ended]
    rows = [_row(record) for record in mine]
    found = _turn(REFEREE, "engine side", began, ended, rows)
    notes = ("times on the engine's side of the same requests as the client's turn",)
    referee = replace(
        found,
        definitions=REFEREE_DEFINITIONS,
        not_applicable={"tpot": NO_TOKENS, "output_tokens": NO_THROUGHPUT, "itl": NO_GAPS},
        notes=notes,
    )
    return imported.write(referee, base, scenario, level)


def lab_turn(
    requests: Path, began: float, ended: float, base: Path, scenario: str, level: str
) -> Path:
    """A results folder of the lab's turn, from the requests.csv its Locust wrote."""
    rows = [dict(r) for _, r in files.csv_rows(requests, "requests.csv")]
    found = _turn(LAB, str(requests), began, ended, rows)
    return imported.write(found, base, scenario, level)


def _turn(tool: str, source: str, began: float, ended: float, rows: list) -> Imported:
    return Imported(
        tool=tool,
        version="",
        source=Path(source),
        settings={},
        started=datetime.fromtimestamp(began, UTC),
        ended=datetime.fromtimestamp(ended, UTC),
        rows=rows,
        figures={},
        definitions=LAB_DEFINITIONS,
        not_applicable={},
    )


def _row(record: dict[str, Any]) -> dict[str, str]:
    ttft, end = record.get("first_chunk_ms"), record.get("end_ms")
    ok = record.get("status") == 200 and ttft is not None
    return row(
        request_id=str(record.get("id", "")),
        start_time=f"{record['arrived']:.6f}",
        engine=str(record.get("engine", "")),
        ttft_ms=f"{ttft:.3f}" if ok else "",
        e2e_ms=f"{end:.3f}" if ok and end is not None else "",
        status="ok" if ok else "error",
        error="" if ok else f"engine answered {record.get('status')} without a chunk",
        phase="run",
        referee_id=str(record.get("id", "")),
    )
