"""Names read from a file's contents never become paths as they are: `calibrate --from` names
its folder from the runs' profile_name, which a hostile manifest sets; the folder is made in
--out, and nothing is written anywhere else."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lab.paths import safe_name
from lab.results import folder as results
from tests.helpers.lab import lab_main
from tests.helpers.runs import RR1, copy, edit_manifest, keep_only

HOSTILE = {
    "a-path": "../../../escaped",
    "absolute": "/tmp/escaped",
    "long": "x" * 300,
    "nul": "cpu\x00evil",
    "dots": "..",
    "escape": "\x1b[2J\x1b]0;title\x07cpu",
    "option": "--rf",
    "unicode": "ünïcode/名前",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_name_from_a_file_is_one_plain_file_name_part(text: str) -> None:
    part = safe_name(text)
    assert part == Path(part).name and part not in ("", ".", "..")
    assert not part.startswith((".", "-")) and len(part) <= 80
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in part)


def test_plain_names_are_kept_as_they_are() -> None:
    assert safe_name("cpu-gate") == "cpu-gate"
    assert (
        safe_name("calibration-20261207T180042Z-cpu_2.1") == "calibration-20261207T180042Z-cpu_2.1"
    )
    assert safe_name("../../../escaped") == "escaped"
    assert safe_name("\x00/..") == "unnamed"


def test_a_new_folder_is_made_in_its_base_whatever_it_is_named(tmp_path) -> None:
    base = tmp_path / "base"
    made = [results.new_folder(base, name) for name in HOSTILE.values()]
    assert all(folder.parent == base and folder.is_dir() for folder in made)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_calibrate_from_runs_with_hostile_names_writes_only_in_its_out(tmp_path) -> None:
    """Three runs whose manifests name their profile `../../../escaped` then a NUL byte and 300
    characters (a traceback, and a folder outside --out, before): one folder in --out."""
    work = tmp_path / "a" / "b" / "c"
    for index in range(3):
        run = keep_only(copy(RR1, work / "runs" / f"run{index}"), "routing")
        hostile = "../../../escaped\x00" + "x" * 300
        edit_manifest(run, lambda manifest, name=hostile: manifest.update(profile_name=name))
    before = snapshot(tmp_path)
    done = lab_main(
        "calibrate", "--from", "runs", "--out", "out", state_dir=work / ".lab", cwd=work
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    after = snapshot(tmp_path)
    (folder,) = (work / "out").iterdir()
    assert folder.name.startswith("calibration-") and folder.name.endswith("-escaped-" + "x" * 23)
    assert set(after) - set(before) == {str((folder / "noise.json").relative_to(tmp_path))}
    assert {name: after[name] for name in before} == before  # the runs untouched
    assert sorted(p.name for p in work.iterdir()) == ["out", "runs"]
