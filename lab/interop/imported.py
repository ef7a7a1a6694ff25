"""Another tool's result as a results folder: `Imported` is what a format's reader makes of a
file, `write` the folder it becomes. The folder is read like any run's: its manifest says
`imported` (the tool, its version and settings, how its metrics are defined against the lab's,
the figures it cannot give and why); it has no engines.csv, so every figure from the engines'
counters is n/a there."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lab import __version__
from lab.inproc.samples import SAMPLE_COLUMNS
from lab.results import figures as level_figures
from lab.results import folder as results
from lab.results import summary
from lab.results.manifest import SCHEMA_VERSION, Manifest, Recorder

# Where an import's requests go, unless --as names the scenario and level of a lab run to
# compare it with (compare pairs levels by their names).
SCENARIO, LEVEL = "imported", "imported"
NO_ENGINES = "imported from another tool, which records no engine's counters"
HOST = {"hostname": "", "os": "", "cpu_model": "", "cpu_count": 0, "memory_gib": 0}


@dataclass(frozen=True)
class Imported:
    """What a file of another tool holds, in the lab's terms."""

    tool: str
    version: str  # as the file says; empty when it does not
    source: Path
    settings: dict[str, Any]
    started: datetime  # aware, UTC
    ended: datetime
    rows: list[dict[str, str]] | None  # requests.csv's rows; None: summary figures only
    figures: dict[str, Any]  # summary.json's figures, when there are no rows
    definitions: dict[str, str]  # metric family -> how the tool defines it against the lab's
    not_applicable: dict[str, str]  # figure -> why the file cannot give it
    notes: tuple[str, ...] = ()


def row(**values: str) -> dict[str, str]:
    """A row of requests.csv: the values given, every other column empty."""
    return {column: values.get(column, "") for column in SAMPLE_COLUMNS}


def write(imported: Imported, base: Path, scenario: str = SCENARIO, level: str = LEVEL) -> Path:
    """The new results folder in `base` holding `imported` as one scenario of one level."""
    rows = [{**r, "scenario": scenario, "level": level} for r in imported.rows or []]
    figures = _figures(imported, rows)
    folder = results.new_folder(base, f"{results.stamp()}-{imported.tool}-import")
    place = folder / scenario
    place.mkdir()
    with (place / "requests.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    written = {"levels": {level: figures}}
    (place / level_figures.SUMMARY).write_text(json.dumps(written, indent=2) + "\n")
    recorder = Recorder(folder, _manifest(imported, scenario))
    entry = recorder.begin(scenario, "throughput", None, imported.started.isoformat())
    entry.levels.append(level)
    recorder.end(entry, "completed")
    recorder.finish("completed", imported.ended.isoformat(timespec="seconds"))
    return folder


def _figures(imported: Imported, rows: list[dict[str, str]]) -> dict[str, Any]:
    if imported.rows is None:
        figures = dict(imported.figures)
    else:
        figures = summary.summarize([summary.from_row(r) for r in rows])
    figures["not_applicable"] = {**imported.not_applicable, "engines": NO_ENGINES}
    return figures


def _manifest(imported: Imported, scenario: str) -> Manifest:
    name = f"{imported.tool}-import"
    return Manifest(
        schema_version=SCHEMA_VERSION,
        lab_version=__version__,
        profile_name=name,
        profile_source=str(imported.source),
        profile={
            "name": name,
            "engine": {},
            "router": {},
            "scenarios": [{"name": scenario, "kind": "throughput"}],
        },
        helm_values=None,
        platform="imported",
        endpoints={"router": "", "engines": [], "routing": "", "notes": list(imported.notes)},
        versions={
            "lab": __version__,
            "python": "",
            "locust": "",
            "vllm": imported.version if imported.tool == "vllm-bench" else "",
            "vllm_router": "",
            imported.tool: imported.version,
        },
        git_commit=None,
        host=dict(HOST),
        started=imported.started.isoformat(timespec="seconds"),
        imported={
            "tool": imported.tool,
            "version": imported.version,
            "source": str(imported.source),
            "settings": imported.settings,
            "definitions": imported.definitions,
            "not_applicable": imported.not_applicable,
            "notes": list(imported.notes),
        },
    )
