"""Failed requests by class (requests.csv's failure), per level and side: a note beside the
comparison. It says how each side's requests failed; it changes no figure and no verdict (the
error rate is the gated figure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from lab.compare.metrics import LevelData
from lab.compare.runsets import Unit
from lab.results import summary


def note(unit: Unit, side_a: Sequence[LevelData], side_b: Sequence[LevelData]) -> list[str]:
    """One note for a level where either side had a failed request (over all its runs, the
    requests drained at a level's end left out, as the summary leaves them); none otherwise."""
    counts = [_classes(side) for side in (side_a, side_b)]
    if not any(counts):
        return []
    a, b = (_said(found) for found in counts)
    return [f"{unit.scenario}/{unit.level}: failed requests by class: A {a}; B {b}"]


def _classes(side: Sequence[LevelData]) -> Counter[str]:
    found: Counter[str] = Counter()
    for level in side:
        found.update(summary.failure_classes(level.measured))
    return found


def _said(found: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(found.items())) or "none"
