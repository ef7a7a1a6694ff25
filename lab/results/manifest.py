"""A run's manifest (manifest.json, schemas/run-manifest.schema.json): what ran, where, with
which versions, and how each scenario went. `Manifest` is its one type; a `Recorder` is the one
writer, which headless runs (lab.load.scenarios), the web UI's tests (lab.load.web_runs) and
the arms of a side-by-side A/B (lab.load.concurrent) all write through.

Keys are written in the order runs of every lab version have written them. Keys that older
runs lack are read as None: `images`, and a scenario's `seed` (None also for a scenario
without one); `web_ui`, `ab` and `imported` are None, and not written, in runs that are none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab import __version__, files
from lab.config import values
from lab.config.profile import Profile
from lab.config.validation import check, violations
from lab.errors import ConfigError
from lab.results import provenance
from lab.stack.state import State

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ScenarioRecord:
    """One scenario of a run: its status and the levels that finished."""

    name: str
    kind: str
    status: str = "running"
    started: str = ""
    ended: str | None = None
    levels: list[str] = field(default_factory=list)
    error: str = ""
    seed: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioRecord:
        return cls(
            data["name"],
            data["kind"],
            data["status"],
            data["started"],
            data["ended"],
            list(data["levels"]),
            data["error"],
            data.get("seed"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "levels": self.levels,
            "error": self.error,
            "seed": self.seed,
        }


@dataclass
class Manifest:
    """A run's manifest; `profile`, `endpoints`, `versions`, `host`, `web_ui` and `ab` are kept
    as the JSON has them (their schema checks them)."""

    schema_version: int
    lab_version: str
    profile_name: str
    profile_source: str
    profile: dict[str, Any]
    helm_values: dict[str, Any] | None
    platform: str
    endpoints: dict[str, Any]
    versions: dict[str, Any]
    images: list[str] | None = None  # the container images its platform ran (None: older runs)
    git_commit: str | None = None
    host: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    ended: str | None = None
    status: str = "running"
    scenarios: list[ScenarioRecord] = field(default_factory=list)
    web_ui: dict[str, Any] | None = None  # a test started in the web UI (lab.load.web_runs)
    ab: dict[str, Any] | None = None  # an arm of a side-by-side A/B (lab.load.concurrent)
    imported: dict[str, Any] | None = None  # another tool's result (lab.interop)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            schema_version=data["schema_version"],
            lab_version=data["lab_version"],
            profile_name=data["profile_name"],
            profile_source=data["profile_source"],
            profile=data["profile"],
            helm_values=data["helm_values"],
            platform=data["platform"],
            endpoints=data["endpoints"],
            versions=data["versions"],
            images=data.get("images"),
            git_commit=data["git_commit"],
            host=data["host"],
            started=data["started"],
            ended=data["ended"],
            status=data["status"],
            scenarios=[ScenarioRecord.from_json(entry) for entry in data["scenarios"]],
            web_ui=data.get("web_ui"),
            ab=data.get("ab"),
            imported=data.get("imported"),
        )

    def to_json(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in _ORDER}
        out["scenarios"] = [entry.to_json() for entry in self.scenarios]
        return {key: v for key, v in out.items() if v is not None or key not in _OPTIONAL}


# The order of the keys in manifest.json.
_ORDER = (
    "schema_version", "lab_version", "profile_name", "profile_source", "profile", "helm_values",
    "platform", "endpoints", "versions", "images", "git_commit", "host", "started", "ended",
    "status", "scenarios", "web_ui", "ab", "imported",
)  # fmt: skip
_OPTIONAL = ("images", "web_ui", "ab", "imported")  # not written when None


def start(profile: Profile, current: State, images: list[str]) -> Manifest:
    """The manifest of a run starting now; `images` are the container images (image:tag) its
    platform runs (lab.platforms.images)."""
    endpoints = current.require_endpoints()
    return Manifest(
        schema_version=SCHEMA_VERSION,
        lab_version=__version__,
        profile_name=profile.name,
        profile_source=profile.source,
        profile=profile.resolved,
        helm_values=_helm_values(profile),
        platform=current.platform,
        endpoints={
            "router": endpoints.router,
            "engines": [e.url for e in endpoints.engines],
            "routing": endpoints.routing,
            "tokenizer": endpoints.tokenizer,
            "simulated": endpoints.simulated,
            "model": endpoints.model,
            "shared": endpoints.shared,
            "notes": list(endpoints.notes),
        },
        versions=provenance.versions(endpoints.engines[0].url if endpoints.engines else ""),
        images=images,
        git_commit=provenance.git_commit(),
        host=provenance.host(),
        started=now(),
    )


def chosen_level(manifest: Manifest, run: Path, level: str | None) -> tuple[ScenarioRecord, str]:
    """The scenario and level that --level names (SCENARIO/LEVEL, or a LEVEL only one of the
    run's scenarios has), or the run's only level when it names none."""
    levels = [(entry, name) for entry in manifest.scenarios for name in entry.levels]
    named = [f"{entry.name}/{name}" for entry, name in levels]
    if level is None and len(levels) == 1:
        return levels[0]
    if level is None:
        raise ConfigError(
            f"{run}: {len(levels)} levels; name one with --level: {', '.join(named) or 'none'}"
        )
    matches = [i for i, full in enumerate(named) if level in (full, full.split("/", 1)[1])]
    if len(matches) > 1:
        raise ConfigError(
            f"--level {level}: a level of several scenarios of {run}; name one as "
            f"SCENARIO/LEVEL: {', '.join(named[i] for i in matches)}"
        )
    if not matches:
        raise ConfigError(f"--level {level}: not a level of {run}; its levels: {', '.join(named)}")
    return levels[matches[0]]


def read(folder: Path) -> Manifest:
    """A results folder's manifest, validated; ConfigError names what is wrong."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder")
    if not path.exists():
        raise ConfigError(f"{folder}: not a results folder (no {MANIFEST})")
    data = files.read_json(path, "manifest")
    problems = violations(data, "run-manifest")
    if problems:
        raise ConfigError([f"{path}: {where}: {message}" for where, message in problems])
    return Manifest.from_json(data)


class Recorder:
    """The one writer of a run's manifest: every change is saved at once, atomically, checked
    against the schema, so that a run cut short at any point leaves a manifest that says so."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest
        self.save()

    def save(self) -> None:
        data = self.manifest.to_json()
        check(data, "run-manifest", f"{self.folder / MANIFEST} (as written)")
        partial = self.folder / f".{MANIFEST}.tmp"
        partial.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(partial, self.folder / MANIFEST)

    def begin(self, name: str, kind: str, seed: int | None, started: str = "") -> ScenarioRecord:
        """A scenario starting now (or at `started`)."""
        entry = ScenarioRecord(name, kind, started=started or now(), seed=seed)
        self.manifest.scenarios.append(entry)
        self.save()
        return entry

    def end(self, entry: ScenarioRecord, status: str, error: str = "") -> None:
        """A scenario's end: its status, and why when it did not complete."""
        entry.status, entry.error, entry.ended = status, error, now()
        self.save()

    def finish(self, status: str, ended: str = "") -> None:
        """The run's end."""
        self.manifest.status, self.manifest.ended = status, ended or now()
        self.save()


def _helm_values(profile: Profile) -> dict[str, Any] | None:
    """What this profile deploys as on Kubernetes (None if it cannot go there as it is)."""
    try:
        return values.render(profile)
    except ConfigError:
        return None
