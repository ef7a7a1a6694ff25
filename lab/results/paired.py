"""The time-stratified view of a side-by-side A/B (`lab ab --concurrent`): both arms ran at the
same moments, so each time window holds a pair (A's requests, B's requests) that shared the
machine's state then. Per window the medians of A and B are compared; across windows the log
ratio B/A is tested with Wilcoxon's signed-rank test, which cancels the drift common to both.

It reads the arms' saved results folders (A/<run>, B/<run>), never live state, and writes
windows.json beside them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from scipy import stats

from lab.results import manifest as manifests
from lab.results import summary
from lab.results.summary import Sample

WINDOW_S = 10.0  # long enough to hold a few requests of each arm at the lab's CPU loads
MIN_PER_ARM = 3  # fewer requests of an arm in a window make its median mostly noise
MIN_WINDOWS = 6  # below it no signed-rank test reaches p < 0.05
METRICS = ("ttft_ms", "e2e_ms")


@dataclass(frozen=True)
class Window:
    start: float  # seconds since the level's first request
    count_a: int
    count_b: int
    median_a: float
    median_b: float

    @property
    def log_ratio(self) -> float:
        return math.log(self.median_b / self.median_a)


def windows(a: list[Sample], b: list[Sample], metric: str, width: float = WINDOW_S) -> list[Window]:
    """The windows of `width` s, from the first request of either arm, where both arms have at
    least MIN_PER_ARM successful requests measured in the run phase."""
    a, b = _measured(a, metric), _measured(b, metric)
    if not a or not b:
        return []
    origin = min(s.start for s in a + b)
    by_window: dict[int, tuple[list[float], list[float]]] = {}
    for side, samples in ((0, a), (1, b)):
        for s in samples:
            by_window.setdefault(int((s.start - origin) // width), ([], []))[side].append(
                getattr(s, metric)
            )
    out = []
    for index, (values_a, values_b) in sorted(by_window.items()):
        if min(len(values_a), len(values_b)) < MIN_PER_ARM:
            continue
        median_a, median_b = median(values_a), median(values_b)
        if median_a > 0 and median_b > 0:
            out.append(Window(index * width, len(values_a), len(values_b), median_a, median_b))
    return out


def signed_rank(pairs: list[Window]) -> dict[str, Any]:
    """B against A over paired windows: the median per-window change, how many windows had B
    slower, and the signed-rank test of the log ratios (None with too few windows)."""
    if not pairs:
        return {"windows": 0, "b_slower_in": 0, "median_change": None, "p_value": None}
    logs = [w.log_ratio for w in pairs]
    p_value = float(stats.wilcoxon(logs).pvalue) if len(pairs) >= MIN_WINDOWS else None
    return {
        "windows": len(pairs),
        "b_slower_in": sum(1 for x in logs if x > 0),
        "median_change": math.exp(median(logs)) - 1,
        "median_diff_ms": median(w.median_b - w.median_a for w in pairs),
        "p_value": p_value,
    }


def analyse(pairs_of_runs: list[tuple[Path, Path]], width: float | None = None) -> dict[str, Any]:
    """Per scenario, level and metric: every run's windows, and the test over all of them
    (windows of all runs pooled: each is a pair of its own)."""
    width = width or WINDOW_S
    found: dict[str, dict[str, list[Window]]] = {}
    for run_a, run_b in pairs_of_runs:
        for unit, (a, b) in _units(run_a, run_b).items():
            for metric in METRICS:
                found.setdefault(unit, {}).setdefault(metric, []).extend(
                    windows(a, b, metric, width)
                )
    return {
        "window_s": width,
        "units": {
            unit: {
                metric: {**signed_rank(pairs), "per_window": [w.__dict__ for w in pairs]}
                for metric, pairs in by_metric.items()
            }
            for unit, by_metric in found.items()
        },
    }


def write(folder: Path, analysis: dict[str, Any]) -> Path:
    path = folder / "windows.json"
    path.write_text(json.dumps(analysis, indent=2) + "\n")
    return path


def lines(analysis: dict[str, Any]) -> list[str]:
    """One line per scenario/level and metric, as `ab` says them."""
    out = []
    for unit, by_metric in analysis["units"].items():
        for metric, t in by_metric.items():
            if not t["windows"]:
                out.append(f"{unit} {metric}: no window with both arms measured")
                continue
            p = "too few windows to test" if t["p_value"] is None else f"p = {t['p_value']:.2g}"
            out.append(
                f"{unit} {metric}: B vs A {t['median_change']:+.1%} per {analysis['window_s']:g} s "
                f"window (median), B slower in {t['b_slower_in']}/{t['windows']} windows, "
                f"signed-rank {p}"
            )
    return out


def _measured(samples: list[Sample], metric: str) -> list[Sample]:
    return [s for s in samples if s.ok and s.phase == "run" and getattr(s, metric) is not None]


def _units(run_a: Path, run_b: Path) -> dict[str, tuple[list[Sample], list[Sample]]]:
    """scenario/level -> (A's samples, B's samples), for the levels both runs finished."""
    out = {}
    manifest = manifests.read(run_a)
    for entry in manifest.scenarios:
        name = entry.name
        a = summary.read_samples(run_a / name / "requests.csv")
        b = summary.read_samples(run_b / name / "requests.csv")
        for level in entry.levels:
            out[f"{name}/{level}"] = (
                [s for s in a if s.level == level],
                [s for s in b if s.level == level],
            )
    return out
