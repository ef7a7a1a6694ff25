"""Recorded and made-up results: the lab's recorded runs, endpoints, sample rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from lab.config import slo
from lab.inproc.samples import SAMPLE_COLUMNS
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.state import State

# Real runs of the cpu profile, recorded on the 2-core machine.
DATA = Path(__file__).resolve().parent.parent / "data"


ENDPOINTS = Endpoints(
    router="http://127.0.0.1:30080",
    engines=(Engine("engine-0", "http://127.0.0.1:1"), Engine("engine-1", "http://127.0.0.1:2")),
    model="tiny-llama",
    routing="session",
    session_key="x-user-id",
)


def fake_state() -> State:
    return State(
        platform="local", profile={"name": "cpu"}, profile_source="cpu", endpoints=ENDPOINTS
    )


def row(**fields) -> dict:
    base = {c: "" for c in SAMPLE_COLUMNS}
    base.update(status="ok", phase="run", prompt_tokens="10", output_tokens="4")
    base.update({k: str(v) for k, v in fields.items()})
    return base


def judge(rows: list[dict], limits: dict[str, float]) -> list[dict]:
    """Rows with slo_ok as the Locust user writes it: the rule's verdict on what each request
    measured, empty for drained ones."""

    def flag(r: dict) -> str:
        if r["phase"] == "drain":
            return ""
        times = {k: float(r[k]) if r[k] else None for k in ("ttft_ms", "tpot_ms", "e2e_ms")}
        tokens = int(r["output_tokens"] or 0)
        return "1" if slo.good(limits, r["status"] == "ok", **times, output_tokens=tokens) else "0"

    return [{**r, "slo_ok": flag(r)} for r in rows]


def write_samples(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def interrupted_run(folder: Path) -> Path:
    """A results folder of a routing run interrupted after nine requests."""
    manifest = {
        "schema_version": 1, "lab_version": "0", "profile_name": "cpu",
        "profile_source": "cpu.yaml", "profile": {}, "helm_values": None, "platform": "local",
        "started": "t0", "ended": "t1", "status": "interrupted",
        "endpoints": {"routing": "roundrobin", "engines": ["a", "b"]},
        "versions": {"vllm": "0.32.0"}, "git_commit": None,
        "host": {"cpu_model": "cpu", "cpu_count": 2, "memory_gib": 24},
        "scenarios": [
            {"name": "routing", "kind": "routing", "status": "interrupted", "started": "t0",
             "ended": "t1", "levels": [], "error": "Ctrl-C"}
        ],
    }  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "routing").mkdir()
    rows = [
        row(start_time=100 + i, level="routing", round=i % 3, session="s", engine="engine-0",
            ttft_ms=20 + i, e2e_ms=50 + i, itl_ms="1;2")
        for i in range(9)
    ]  # fmt: skip
    write_samples(folder / "routing" / "requests.csv", rows)
    return folder
