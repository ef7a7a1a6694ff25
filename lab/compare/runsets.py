"""One side of a comparison: a results folder, or a folder of results folders that are repeated
runs of one configuration (as `lab ab` writes them). Everything is checked on loading, so that
unusable input is refused before anything is computed or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import files
from lab.compare import ranges
from lab.compare.metrics import LevelData
from lab.errors import ConfigError
from lab.results import folder as results
from lab.results import manifest as manifests
from lab.results import summary
from lab.results.manifest import MANIFEST, Manifest, ScenarioRecord

ENGINE_COLUMNS = ("level", "engine", "requests", "prefix_cache_queries", "prefix_cache_hits")


@dataclass(frozen=True)
class ScenarioRun:
    name: str
    kind: str
    levels: dict[str, LevelData]


@dataclass(frozen=True)
class Run:
    folder: Path
    manifest: Manifest
    scenarios: dict[str, ScenarioRun]


@dataclass(frozen=True)
class RunSet:
    path: Path
    runs: tuple[Run, ...]

    @property
    def name(self) -> str:
        return self.path.resolve().name

    def scenarios(self) -> dict[str, list[str]]:
        """Scenario -> levels that every run of the set has."""
        first, *rest = self.runs
        out = {}
        for name, scenario in first.scenarios.items():
            levels = [
                level
                for level in scenario.levels
                if all(name in r.scenarios and level in r.scenarios[name].levels for r in rest)
            ]
            if levels:
                out[name] = levels
        return out


def load(path: Path) -> RunSet:
    """A results folder, or a folder whose subfolders are results folders (repeated runs)."""
    if not path.is_dir():
        raise ConfigError(f"{path}: not a folder")
    if (path / MANIFEST).exists():
        return RunSet(path, (load_run(path),))
    folders = sorted(p for p in path.iterdir() if (p / MANIFEST).exists())
    if not folders:
        raise ConfigError(
            f"{path}: not a results folder (no {MANIFEST}), nor a folder of results folders"
        )
    return RunSet(path, tuple(load_run(folder) for folder in folders))


def load_run(folder: Path) -> Run:
    manifest = manifests.read(folder)
    span = ranges.span(manifest)
    scenarios = {}
    for entry in manifest.scenarios:
        if entry.levels:
            place = results.scenario_place(folder, entry, manifest.imported is not None)
            scenarios[entry.name] = _scenario(place, entry, span, _imported(manifest))
    return Run(folder, manifest, scenarios)


# What an import's manifest says its tool cannot give (lab.interop), as compare's families.
IMPORTED_FAMILIES = {
    "itl": ("itl",),
    "tpot": ("tpot",),
    "output_tokens": ("throughput",),  # the engine referee's (lab.interop.refereed)
    "goodput": ("goodput",),
    "engines": ("hit_rate", "balance", "ttft_busiest_engine"),
}


def _imported(manifest: Manifest) -> dict[str, str]:
    """The families another tool's result cannot give, each with why (none for a lab run)."""
    said = (manifest.imported or {}).get("not_applicable", {})
    return {
        family: f"{why} ({manifest.imported and manifest.imported['tool']})"
        for name, why in said.items()
        for family in IMPORTED_FAMILIES.get(name, ())
    }


def _scenario(
    place: Path, entry: ScenarioRecord, span: tuple[float, float], imported: dict[str, str]
) -> ScenarioRun:
    requests, engines_file = place / "requests.csv", place / "engines.csv"
    summary.check_columns(requests)
    if engines_file.exists():  # another tool's result has none: its engine figures are n/a
        _check_columns(engines_file, ENGINE_COLUMNS)
    samples = summary.read_samples(requests)
    engines = results.read_engines(engines_file)
    limited = _client_limited(place)
    named = f"{place.parent.name}/{place.name}"  # the run's folder and the scenario's
    doubts = ranges.merged(
        ranges.of_samples(samples, f"{named}/{requests.name}", span),
        ranges.of_engines(engines, f"{named}/{engines_file.name}"),
        {level: imported for level in entry.levels if imported},
    )
    levels = {
        level: LevelData(
            [s for s in samples if s.level == level],
            engines.get(level, {}),
            limited.get(level),
            doubts.get(level, {}),
        )
        for level in entry.levels
    }
    return ScenarioRun(entry.name, entry.kind, levels)


def _client_limited(place: Path) -> dict[str, str]:
    """Levels whose load generator was the limit, with why, as summary.json says
    (lab.results.summary.client_limit)."""
    levels = results.read_summary(place).get("levels", {})
    return {
        level: str(why) for level, found in levels.items() if (why := found.get("client_limited"))
    }


def _check_columns(path: Path, needed: tuple[str, ...]) -> None:
    next(files.csv_rows(path, path.name, needed), None)  # refuses a header without them


# A folder of runs holds repeated runs of one configuration: compare warns of a run that is not
# one of them, naming how it differs, and --strict refuses it.
SHOWN_SETTINGS = 5  # differing settings named before the rest is only counted


def disagreements(side: RunSet) -> list[str]:
    """How the runs of a folder of runs differ from its first run in what must be one
    configuration (the profile, its settings, the lab's version): one line per run that
    differs, naming each difference. Averaged together, such runs measure no configuration."""
    first, *rest = side.runs
    lines = []
    for run in rest:
        found = _differences(first.manifest, run.manifest)
        if found:
            lines.append(f"{run.folder}: {'; '.join(found)}, unlike {first.folder}")
    return lines


def _differences(mine: Manifest, theirs: Manifest) -> list[str]:
    found = []
    if theirs.profile_name != mine.profile_name:
        found.append(f"profile {theirs.profile_name} (not {mine.profile_name})")
    settings = [p for p in _differing(mine.profile, theirs.profile) if p != "name"]
    if settings:
        more = len(settings) - SHOWN_SETTINGS
        named = ", ".join(settings[:SHOWN_SETTINGS]) + (f" and {more} more" if more > 0 else "")
        found.append(f"settings {named} differ")
    if theirs.lab_version != mine.lab_version:
        found.append(f"lab version {theirs.lab_version} (not {mine.lab_version})")
    return found


def _differing(mine: Any, theirs: Any, where: str = "") -> list[str]:
    """The dotted paths at which two documents hold different values."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        keys = [*mine, *(k for k in theirs if k not in mine)]
        return [
            path
            for key in keys
            for path in _differing(mine.get(key), theirs.get(key), f"{where}.{key}".lstrip("."))
        ]
    if isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        return [
            path
            for index, (one, other) in enumerate(zip(mine, theirs, strict=True))
            for path in _differing(one, other, f"{where}[{index}]")
        ]
    return [] if mine == theirs else [where or "(the whole profile)"]


def side_by_side_arm(side: RunSet) -> tuple[str, tuple[str, ...]] | None:
    """The arm (A or B) of side-by-side runs (ab --concurrent) that every run of the side is,
    with the repetitions they belong to (their mixed runs); None for any other runs."""
    found = [run.manifest.ab or {} for run in side.runs]
    arms = {entry.get("arm") for entry in found}
    if len(arms) != 1 or not all(entry.get("design") == "concurrent" for entry in found):
        return None
    return str(arms.pop()), tuple(sorted(entry["mixed"] for entry in found))


def check_order(a: RunSet, b: RunSet) -> None:
    """Refuse the two arms of the same side-by-side runs given B first: compared that way they
    would be judged unpaired, and what the pairing cancels (the machine's drift) would stay."""
    arm_a, arm_b = side_by_side_arm(a), side_by_side_arm(b)
    if arm_a and arm_b and arm_a[0] == "B" and arm_b == ("A", arm_a[1]):
        raise ConfigError(
            f"{a.path} holds the B arm and {b.path} the A arm of the same side-by-side runs "
            f"(ab --concurrent): A comes first, as in: compare {b.path} {a.path}"
        )


@dataclass(frozen=True)
class Unit:
    """A scenario's level, present in every run of both sides."""

    scenario: str
    kind: str
    level: str


def common_units(a: RunSet, b: RunSet) -> tuple[list[Unit], list[str]]:
    """The units both sides have, and notes on what only one side has. No scenario in common
    is unusable input."""
    in_a, in_b = a.scenarios(), b.scenarios()
    notes = [
        f"scenario {name} is only in {side.path}"
        for side, mine, theirs in ((a, in_a, in_b), (b, in_b, in_a))
        for name in mine
        if name not in theirs
    ]
    shared = [name for name in in_a if name in in_b]
    if not shared:
        raise ConfigError([f"{a.path} and {b.path} have no scenario in common", *notes])
    units = []
    for name in shared:
        kind = a.runs[0].scenarios[name].kind
        for level in in_a[name]:
            if level in in_b[name]:
                units.append(Unit(name, kind, level))
            else:
                notes.append(f"level {name}/{level} is only in {a.path}")
        notes += [
            f"level {name}/{lv} is only in {b.path}" for lv in in_b[name] if lv not in in_a[name]
        ]
    if not units:
        raise ConfigError([f"{a.path} and {b.path} have no level in common", *notes])
    return units, notes


def levels(side: RunSet, unit: Unit) -> list[LevelData]:
    """The unit's records in each run of a side."""
    return [run.scenarios[unit.scenario].levels[unit.level] for run in side.runs]
