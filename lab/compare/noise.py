"""Noise profiles: how much one configuration's figures move from run to run on this machine,
recorded from repeated runs (`lab calibrate`), so that a comparison of single runs can include
run-to-run drift in its intervals and tests (`compare --noise PATH`).

A profile is a folder under results/ (calibration-<UTC time>-<profile>/: the runs it was made
from, and noise.json). For every level and metric, noise.json holds the runs' figures, the
standard deviation of their figures on the test's scale (the log for latencies and
throughput, the value for rates) with its degrees of freedom (runs - 1), and how much of that
is the runs' own sampling noise: the rest is drift between runs. It is always computed from
runs, never written by hand; `load` refuses a file that does not satisfy
schemas/noise-profile.schema.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab import __version__, files
from lab.compare import capacity, estimates, stats
from lab.compare import metrics as compare_metrics
from lab.compare.runsets import RunSet, Unit
from lab.config.validation import check, violations
from lab.errors import ConfigError
from lab.results import manifest as manifests

FILE = "noise.json"
SCHEMA = "noise-profile"
SCHEMA_VERSION = 1
MIN_RUNS = 3  # two runs give one degree of freedom: a t with 1 df judges nothing


@dataclass(frozen=True)
class NoiseProfile:
    """A loaded noise.json."""

    path: Path
    document: dict[str, Any]

    @property
    def runs(self) -> int:
        return len(self.document["runs"])

    @property
    def name(self) -> str:
        return f"noise profile {self.path.parent.name} ({self.runs} runs)"

    def run_folders(self) -> set[Path]:
        """The folders of the runs it was made from, resolved."""
        return {(self.path.parent / run).resolve() for run in self.document["runs"]}

    def source(self, unit: Unit, metric: str) -> stats.Source | None:
        """The run-to-run spread it recorded for this level and metric, if any."""
        for entry in self.document["entries"]:
            key = (entry["scenario"], entry["level"], entry["metric"])
            if key == (unit.scenario, unit.level, metric):
                return stats.Source(
                    f"noise profile ({entry['runs']} runs)",
                    entry["sd"] ** 2,
                    entry["within_sd"] ** 2,
                    entry["df"],
                )
        return None


def entries(
    units: list[Unit], figures: list[dict[Unit, estimates.LevelFigures]]
) -> list[dict[str, Any]]:
    """One entry per level and metric that at least two runs measured: the runs' values, the
    spread of their figures, and its within-run and between-run parts."""
    out = []
    for unit in units:
        for metric in compare_metrics.METRICS:
            found = [f[unit].values.get(metric.name) for f in figures]
            runs = [e for e in found if isinstance(e, stats.Estimate)]
            spread = stats.source("", runs)
            if spread is None:
                continue
            out.append(
                {
                    "scenario": unit.scenario,
                    "level": unit.level,
                    "metric": metric.name,
                    "scale": "log" if metric.log else "value",
                    "runs": len(runs),
                    "values": [e.value for e in runs],
                    "sd": float(np.sqrt(spread.var)),
                    "within_sd": float(np.sqrt(spread.within)),
                    "between_sd": float(np.sqrt(spread.between)),
                    "df": spread.df,
                }
            )
    return out


def build(runs: RunSet, folder: Path, n_boot: int = stats.N_BOOT) -> dict[str, Any]:
    """The noise profile of repeated runs of one configuration, to be saved in `folder`."""
    check_runs(runs)
    units = [
        Unit(name, runs.runs[0].scenarios[name].kind, level)
        for name, levels in runs.scenarios().items()
        for level in levels
    ]
    figures: list[dict[Unit, estimates.LevelFigures]] = [{} for _ in runs.runs]
    for unit in units:
        levels = [run.scenarios[unit.scenario].levels[unit.level] for run in runs.runs]
        hits = estimates.per_request_hits(levels)
        for mine, run in zip(figures, runs.runs, strict=True):
            mine[unit] = estimates.run_figures(run, unit, compare_metrics.METRICS, hits, n_boot)
    for unit in capacity.units(runs):  # a whole search's capacity_rps: one unit per search
        units.append(unit)
        for mine, found in zip(figures, capacity.run_figures(runs, unit), strict=True):
            mine[unit] = found
    first = runs.runs[0].manifest
    document = {
        "schema_version": SCHEMA_VERSION,
        "lab_version": __version__,
        "created": manifests.now(),
        "profile_name": first.profile_name,
        "profile": first.profile,
        "platform": first.platform,
        "host": first.host,
        "runs": [_relative(run.folder, folder) for run in runs.runs],
        "bootstrap_resamples": n_boot,
        "entries": entries(units, figures),
    }
    check(document, SCHEMA, f"{folder / FILE} (as written)")
    return document


def check_runs(runs: RunSet) -> None:
    """At least MIN_RUNS runs, all of one configuration on one platform and host."""
    if len(runs.runs) < MIN_RUNS:
        raise ConfigError(
            f"{runs.path}: {len(runs.runs)} run(s); a noise profile needs at least {MIN_RUNS}"
        )
    first = runs.runs[0]
    for run in runs.runs[1:]:
        for key in ("profile", "platform", "host"):
            if getattr(run.manifest, key) != getattr(first.manifest, key):
                raise ConfigError(
                    f"{run.folder}: its {key} differs from {first.folder}'s; a noise profile "
                    "is made of repeated runs of one configuration on one machine"
                )


def _relative(run: Path, folder: Path) -> str:
    try:
        return str(run.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(run.resolve())


def save(document: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def load(path: Path) -> NoiseProfile:
    """A noise profile: its folder, or its noise.json. ConfigError names what is wrong."""
    file = path / FILE if path.is_dir() else path
    if not file.exists():
        raise ConfigError(
            f"--noise {path}: no {FILE} there; make a noise profile with "
            "`python -m lab calibrate PROFILE --repeat N`"
        )
    document = files.read_json(file, "noise profile")
    problems = violations(document, SCHEMA)
    if problems:
        raise ConfigError([f"{file}: {where}: {message}" for where, message in problems])
    return NoiseProfile(file, document)
