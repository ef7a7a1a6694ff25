"""A lab run written in another tool's format (`lab export`): the level chosen, its requests
read as compare reads them, the file written whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.errors import ConfigError
from lab.interop import vllm_bench
from lab.paths import safe_name
from lab.results import folder as results
from lab.results import manifest as manifests
from lab.results import summary
from lab.results.manifest import Manifest


def vllm_bench_file(run: Path, level: str | None, out: Path | None) -> Path:
    """`run`'s level (SCENARIO/LEVEL; its only one when None) as vllm bench serve's detailed
    result, in `out` (by default beside the run's own files)."""
    manifest = manifests.read(run)
    entry, name = manifests.chosen_level(manifest, run, level)
    place = results.scenario_place(run, entry, manifest.imported is not None)
    samples = [
        s for s in summary.read_samples(place / "requests.csv") if s.level == name and s.measured
    ]
    if not samples:
        raise ConfigError(f"{place / 'requests.csv'}: no request of level {name} to export")
    offered = results.read_summary(place).get("levels", {}).get(name, {})
    target = out or run / safe_name(f"vllm-bench-{entry.name}-{name}.json")
    _write(target, vllm_bench.export(samples, _settings(manifest, offered)))
    return target


def _settings(manifest: Manifest, offered: dict[str, Any]) -> dict[str, Any]:
    """vllm bench serve's settings keys, as the lab's run had them."""
    rate, users = offered.get("offered_rps"), offered.get("users")
    return {
        "backend": "vllm-lab",
        "label": manifest.profile_name,
        "model_id": manifest.endpoints.get("model", ""),
        "tokenizer_id": manifest.endpoints.get("model", ""),
        "request_rate": rate if isinstance(rate, int | float) else "inf",
        "burstiness": 1.0,
        "max_concurrency": users if isinstance(users, int) else None,
    }


def _write(target: Path, data: dict[str, Any]) -> None:
    """`data` as JSON in `target`, whole or not at all."""
    if target.is_dir():
        raise ConfigError(f"--out {target}: a folder; expected the file to write")
    partial = target.with_name(f".{target.name}.tmp")
    try:
        partial.write_text(json.dumps(data) + "\n")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"{target}: cannot write it ({exc.strerror or exc})") from None
