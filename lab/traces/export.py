"""A run written as a `lab` trace (schemas/trace.schema.json): one level's requests, in the
order they were due, with their prompts as sent (requests.csv's `prompt`, lab.inproc.prompts),
their arrival offsets, sessions and turns, and the output lengths they got. Failed requests
are left out (their answers' lengths are unknown), and said."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from lab import files
from lab.errors import ConfigError
from lab.inproc import prompts
from lab.results import folder as results
from lab.results import manifest as manifests

SAMPLES = "requests.csv"
NEEDED = ("start_time", "level", "status", "output_tokens", "prompt")


@dataclass
class Written:
    requests: int
    failed: int
    level: str


def rows(samples: Path, level: str) -> tuple[list[dict[str, Any]], int]:
    """(the level's trace lines in the order they were due, how many failed requests were
    left out). A run without recorded prompts is refused, naming what it lacks."""
    kept: list[tuple[float, dict[str, Any]]] = []
    failed = 0
    for number, row in _rows(samples):
        if row["level"] != level:
            continue
        if row["status"] != "ok":
            failed += 1
            continue
        where = f"{samples}:{number}"
        if not row["prompt"]:
            raise ConfigError(
                f"{where}: prompt: not recorded (longer than "
                f"{prompts.RECORD_CAP // 2**10} KiB packed): cannot be exported"
            )
        try:
            prompt = prompts.read(row["prompt"])
            due = float(row["start_time"]) - float(row.get("lag_ms") or 0) / 1000
            output = int(row["output_tokens"])
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        line = {
            "session": row.get("session") or f"request-{number}",
            "turn": int(row.get("round") or 0),
            **prompt,
            "output_tokens": output,
        }
        kept.append((due, line))
    if not kept:
        raise ConfigError(f"{samples}: level {level}: no answered request to export")
    kept.sort(key=lambda pair: pair[0])
    start = kept[0][0]
    return [{"offset_ms": round((due - start) * 1000, 3), **line} for due, line in kept], failed


def _rows(samples: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """requests.csv's rows, once it is known to hold what an export needs."""
    with files.opened(samples, "samples file") as file:
        header = file.readline(files.MAX_LINE).decode(errors="replace")
    if missing := [name for name in NEEDED if name not in header.strip().split(",")]:
        raise ConfigError(
            f"{samples}: no {', '.join(missing)} column: the run is from before the "
            "lab recorded its prompts, and cannot be exported"
        )
    return files.csv_rows(samples, "samples file", NEEDED)


def write(run: Path, level: str | None, out: Path) -> Written:
    manifest = manifests.read(run)
    entry, name = manifests.chosen_level(manifest, run, level)
    place = results.scenario_place(run, entry, manifest.imported is not None)
    lines, failed = rows(place / SAMPLES, name)
    with out.open("wb") as file:
        for line in lines:
            file.write(orjson.dumps(line) + b"\n")
    return Written(len(lines), failed, f"{entry.name}/{name}")
