"""The runs a results folder holds, newest last, and the baseline a user chose among them.

Only finished runs count: a folder whose manifest says `completed`. A/B folders (`ab-*`),
comparisons (`compare-*`), calibration data (`calibration-*`), interrupted, failed or running
runs, and folders with no valid manifest are passed over. The baseline is a one-line text file
in the results folder naming a run (or a folder of repeated runs), never a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lab import files
from lab.errors import ConfigError
from lab.results import manifest as manifests
from lab.results.manifest import Manifest

NOT_RUNS = ("ab-", "compare-", "calibration-")
BASELINE = "baseline.txt"


@dataclass(frozen=True)
class Listed:
    """A completed run, as its manifest describes it."""

    folder: Path
    manifest: Manifest

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.manifest.started)

    @property
    def profile(self) -> str:
        return self.manifest.profile_name

    @property
    def units(self) -> set[tuple[str, str]]:
        """(scenario, level) of every level that finished."""
        return {(s.name, level) for s in self.manifest.scenarios for level in s.levels}


def completed_runs(base: Path) -> list[Listed]:
    """The completed runs directly in `base`, oldest first (by the manifests' start times)."""
    if not base.is_dir():
        return []
    found = []
    for folder in base.iterdir():
        if not folder.is_dir() or folder.name.startswith(NOT_RUNS):
            continue
        try:
            manifest = manifests.read(folder)
        except ConfigError:
            continue  # not a run, or not one the lab can read: nothing to compare
        if manifest.status == "completed":
            found.append(Listed(folder, manifest))
    return sorted(found, key=lambda run: (run.started, run.folder.name))


def baseline_file(base: Path) -> Path:
    return base / BASELINE


def read_baseline(base: Path) -> Path | None:
    """The baseline run (or folder of runs) named in `base`, or None when none is set."""
    file = baseline_file(base)
    if not file.exists():
        return None
    named = files.read_text(file, "baseline file").strip()
    if not named:
        return None
    path = Path(named)
    return path if path.is_absolute() else base / path


def save_baseline(base: Path, run: Path) -> Path:
    """Name `run` as the baseline: relative to `base` when it is inside it, so that the
    results folder can move; returns the file written."""
    base.mkdir(parents=True, exist_ok=True)
    try:
        named = run.resolve().relative_to(base.resolve())
    except ValueError:
        named = run.resolve()
    file = baseline_file(base)
    file.write_text(f"{named}\n")
    return file


def clear_baseline(base: Path) -> bool:
    """Forget the baseline; False when none was set."""
    file = baseline_file(base)
    if not file.exists():
        return False
    file.unlink()
    return True
