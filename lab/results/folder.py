"""The results folder of a run: results/<UTC time>-<profile>/, never overwritten, written as it
goes so that an interrupted run keeps every finished scenario and says which was cut short.

    manifest.json          what ran, where, with which versions (lab.results.manifest)
    report.html            plots and a summary table (lab.results.report)
    <scenario>/
        requests.csv       one row per request (lab.inproc.samples.SAMPLE_COLUMNS)
        engines.csv        per level and engine: counter deltas over the level
        summary.json       per level: lab.results.summary figures
        engine_series.csv  the engines' gauges once a second (lab.results.series)
        <level>/locust_stats.csv, locust_stats_history.csv, locust_failures.csv,
                locust_exceptions.csv, locust.html, locust.log (locust-worker-N.log),
                client_cpu.csv (each Locust process's CPU, lab.inproc.samples.CPU_FILE)
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab import files
from lab.config.profile import Profile
from lab.errors import ConfigError, LabError
from lab.paths import safe_name, unwritable
from lab.results import summary
from lab.results.manifest import MANIFEST, ScenarioRecord

SCENARIO_FILES = ("requests.csv", "engines.csv", "summary.json")  # of a scenario with levels
# Another tool's result (lab.interop) saw no engine's counters: it has no engines.csv.
IMPORTED_FILES = ("requests.csv", "summary.json")
ENGINE_COLUMNS = (
    "level",
    "engine",
    "requests",
    "prompt_tokens",
    "generation_tokens",
    "prefix_cache_queries",
    "prefix_cache_hits",
    "prefix_cache_hit_rate",
)


def check_writable(folder: Path, option: str = "--out") -> None:
    """Refuse, before anything is computed or started, a folder results cannot be written in
    (it need not exist yet; nothing is made here)."""
    problem = unwritable(folder)
    if problem:
        raise ConfigError(f"{option} {folder}: {problem}")


def create(base: Path, profile: Profile) -> Path:
    """A new, empty results folder <UTC time>-<profile> in `base`."""
    return new_folder(base, f"{stamp()}-{profile.name}")


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def new_folder(base: Path, name: str) -> Path:
    """A new, empty folder `name` in `base`; a name already taken gets a suffix: results are
    never overwritten. The name is reduced to a plain file name (lab.paths.safe_name): a
    folder is made in `base`, never beside or above it, whatever a file named it."""
    name = safe_name(name, limit=120)
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        folder = base / f"{name}{suffix}"
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        return folder
    raise LabError(f"{base}: cannot find a free folder name for {name}")


def scenario_place(folder: Path, entry: ScenarioRecord, imported: bool = False) -> Path:
    """The folder of one scenario of a run (an `imported` one: another tool's result). One
    with finished levels must hold its files: a missing one is named, never skipped."""
    place = folder / entry.name
    if entry.levels:
        needed = IMPORTED_FILES if imported else SCENARIO_FILES
        missing = [name for name in needed if not (place / name).exists()]
        if missing:
            raise ConfigError(
                f"{place}: {', '.join(missing)} missing, though {folder / MANIFEST} lists "
                f"finished levels ({', '.join(entry.levels)})"
            )
    return place


def write_engines(path: Path, level: str, deltas: dict[str, dict[str, float]]) -> None:
    """Append one row per engine for a level (header on first write)."""
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=ENGINE_COLUMNS)
        if new:
            writer.writeheader()
        for engine, counters in deltas.items():
            queries = counters.get("prefix_cache_queries", 0.0)
            hits = counters.get("prefix_cache_hits", 0.0)
            writer.writerow(
                {
                    "level": level,
                    "engine": engine,
                    **{k: f"{counters.get(k, 0.0):.0f}" for k in ENGINE_COLUMNS[2:7]},
                    "prefix_cache_hit_rate": f"{hits / queries:.4f}" if queries else "",
                }
            )


def read_engines(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """{level: {engine: {counter: value}}} from engines.csv; a value that is not a number is
    a ConfigError naming the file and line."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    if not path.exists():
        return out
    for line, row in files.csv_rows(path, "engines.csv"):
        try:
            counters = {k: summary.finite(row[k] or "0", k) for k in ENGINE_COLUMNS[2:7]}
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: line {line}: {exc}") from None
        out.setdefault(row["level"], {})[row["engine"]] = counters
    return out


def read_summary(place: Path) -> dict[str, Any]:
    """A scenario's summary.json ({} before its first level ends), its levels checked to be a
    mapping of each level to its figures."""
    file = place / "summary.json"
    if not file.exists():
        return {}
    written = files.read_json(file, "summary")
    if not isinstance(written, dict):
        raise ConfigError(f"{file}: expected a mapping with the figures of each level")
    levels = written.get("levels", {})
    if not isinstance(levels, dict) or not all(isinstance(v, dict) for v in levels.values()):
        raise ConfigError(f"{file}: levels: expected a mapping of each level to its figures")
    return written
