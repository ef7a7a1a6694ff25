"""Results folders made from the recorded real runs: copies, copies with latencies scaled by a
known factor, and repeated runs with a known drift between them (each a resample of one real
run's requests, so its own sampling noise is a real run's)."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.helpers.samples import DATA

RECORDED = DATA / "compare"
RR, PA = RECORDED / "roundrobin", RECORDED / "prefixaware"
RR1, RR2 = sorted(RR.iterdir())
PA1, PA2 = sorted(PA.iterdir())
# The quietest recorded run: the machine was least busy while it ran.
QUIET = PA2
LATENCIES = ("ttft_ms", "tpot_ms", "itl_ms_mean", "e2e_ms")

Row = dict[str, str]


def copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def edit_manifest(run: Path, change: Callable[[dict], object]) -> None:
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def edit_csv(path: Path, change: Callable[[Row], Row], drop: tuple[str, ...] = ()) -> None:
    """Rewrite a CSV row by row, without the columns in `drop`."""
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        fields = [f for f in reader.fieldnames or [] if f not in drop]
        records = [change(r) for r in reader]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def keep_only(run: Path, scenario: str) -> Path:
    """The run as if it had run only this scenario."""

    def only(manifest: dict) -> None:
        manifest["scenarios"] = [s for s in manifest["scenarios"] if s["name"] == scenario]

    edit_manifest(run, only)
    for other in {"routing", "throughput"} - {scenario}:
        shutil.rmtree(run / other)
    return run


CAPACITY_SLO = {"ttft_ms": 500.0, "tpot_ms": 50.0, "e2e_ms": None, "attainment": 0.9,
                "max_error_rate": 0.01}  # fmt: skip


def capacity_run(
    to: Path, capacity: float, width: float = 1.1, slo: dict = CAPACITY_SLO, **changes: object
) -> Path:
    """A run of one capacity search, scenario `capacity`, whose summary.json records a capacity
    of `capacity` req/s, bracketed and sure up to `width` times that (its interval); `changes`
    replace keys of that record. The search's one step is the quiet run's rate4 level."""
    keep_only(copy(QUIET, to), "throughput")
    (to / "throughput").rename(to / "capacity")

    def searched(manifest: dict) -> None:
        (entry,) = manifest["scenarios"]
        entry.update(name="capacity", kind="capacity", levels=["rate4"])

    edit_manifest(to, searched)
    low, high = capacity, capacity * width
    found = {
        "capacity_rps": capacity, "capacity_at_least_rps": None, "client_limited": False,
        "bracket": {"pass_rps": low, "fail_rps": high}, "precision": 0.1,
        "within_precision": True, "stopped": "precision reached", "slo": slo,
        "interval": {"low_rps": low, "high_rps": high, "confidence": 0.95},
        "statement": f"capacity {capacity:g} req/s", "steps": [],
    } | changes  # fmt: skip
    summary = to / "capacity" / "summary.json"
    written = json.loads(summary.read_text())
    summary.write_text(json.dumps(written | {"slo": slo, "capacity": found}))
    return to


def edit_requests(run: Path, change: Callable[[list[Row]], list[Row]]) -> None:
    """Rewrite every requests.csv of a run with change(rows)."""
    for path in run.glob("*/requests.csv"):
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            fields = list(reader.fieldnames or [])
            rows = change(list(reader))
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)


def scaled(run: Path, to: Path, factor: float, columns: tuple[str, ...] = ("ttft_ms", "e2e_ms")):
    """A copy of the run with every value of these columns times factor."""
    copy(run, to)

    def scale(rows: list[Row]) -> list[Row]:
        return [r | {c: _times(r[c], factor) for c in columns} for r in rows]

    edit_requests(to, scale)
    return to


def drifted(run: Path, to: Path, drift: float, rng: np.random.Generator) -> Path:
    """Another run of the same configuration: each level's requests resampled with replacement
    (fresh sampling noise), every latency and token gap times `drift` (the machine's state)."""
    copy(run, to)

    def resample(rows: list[Row]) -> list[Row]:
        out = []
        for level in dict.fromkeys(r["level"] for r in rows):
            mine = [r for r in rows if r["level"] == level]
            for i in rng.integers(0, len(mine), len(mine)):
                r = mine[i]
                gaps = ";".join(_times(g, drift) for g in r["itl_ms"].split(";") if g)
                out.append(r | {c: _times(r[c], drift) for c in LATENCIES} | {"itl_ms": gaps})
        return sorted(out, key=lambda r: float(r["start_time"]))

    edit_requests(to, resample)
    return to


def repeated(run: Path, folder: Path, count: int, sd: float, seed: int) -> list[Path]:
    """`count` runs like `run` in `folder`, drifting from run to run with log-sd `sd`."""
    rng = np.random.default_rng(seed)
    return [
        drifted(run, folder / f"{i:02d}-{run.name}", float(np.exp(rng.normal(0, sd))), rng)
        for i in range(count)
    ]


def _times(value: str, factor: float) -> str:
    return repr(float(value) * factor) if value else value


def slow_ttft(run: Path, factor: float) -> Path:
    """The run with every TTFT of its throughput scenario times `factor`."""

    def scaled(record: Row) -> Row:
        ttft = record["ttft_ms"]
        return record | {"ttft_ms": f"{float(ttft) * factor:.3f}" if ttft else ""}

    edit_csv(run / "throughput" / "requests.csv", scaled)
    return run
