"""Calibration of `compare`'s regression verdict on TTFT, from real recorded samples.

For each level of the recorded runs (tests/data/compare: the cpu profile's routing and
throughput scenarios, roundrobin and prefixaware, real engines), A and B are drawn with
replacement from that level's recorded TTFTs, each as many requests as the level recorded
(the default scenario sizes):
  - A/A pairs: both from the same recording. A regression verdict on any of TTFT p50, p90,
    p99 is a false alarm; target at most 5%.
  - shifted pairs: B's draws times 1.2 (TTFT 20% worse). A regression verdict on TTFT is a
    detection; target at least 95%.
The verdicts are compare's own (lab.compare.comparison.verdict on lab.compare.stats.change),
with the default alpha, thresholds and bootstrap size. `--pairs N` per level (default 200),
`--sizes` also reports detection at larger sample sizes (how many requests the target needs).

    nox -s benchmark -- compare-calibration [--pairs 200] [--sizes 100,200,400]
    nox -s benchmark -- compare-calibration --record cpu-gate   # record runs first (~10 min)
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from lab.compare import comparison as compare
from lab.compare import metrics as compare_metrics
from lab.compare import runsets, stats

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "compare"
SHIFT = 1.2
TTFT = compare_metrics.FAMILIES["ttft"]


def recordings(data: Path) -> dict[str, list[np.ndarray]]:
    """Level -> the TTFTs of that level in each recorded run (a folder of results folders, or
    of folders of them)."""
    found: dict[str, list[np.ndarray]] = defaultdict(list)
    for config in sorted(p for p in data.iterdir() if p.is_dir()):
        for run in runsets.load(config).runs:
            for scenario in run.scenarios.values():
                for level, data in scenario.levels.items():
                    values = np.array([s.ttft_ms for s in data.ok if s.ttft_ms is not None])
                    found[level].append(values)
    return dict(found)


def regression(a: np.ndarray, b: np.ndarray, seed: int) -> dict[str, bool]:
    """compare's verdict for each TTFT percentile: is it a regression?"""
    changes = stats.change(
        stats.Quantiles(a, compare_metrics.PERCENTILES),
        stats.Quantiles(b, compare_metrics.PERCENTILES),
        compare.ALPHA,
        stats.N_BOOT,
        seed,
    )
    return {
        metric.name: compare.verdict(metric, change, metric.threshold, compare.ALPHA)[0]
        == compare.WORSE
        for metric, change in zip(TTFT, changes, strict=True)
    }


def trial(pool: np.ndarray, n: int, shift: float, rng: np.random.Generator) -> dict[str, bool]:
    a = rng.choice(pool, n)
    b = rng.choice(pool, n) * shift
    return regression(a, b, int(rng.integers(2**31)))


def rates(outcomes: list[dict[str, bool]]) -> tuple[float, dict[str, float]]:
    """Share of pairs with a regression on any TTFT percentile, and on each."""
    anyone = float(np.mean([any(o.values()) for o in outcomes]))
    return anyone, {m.name: float(np.mean([o[m.name] for o in outcomes])) for m in TTFT}


def calibrate(levels: dict[str, list[np.ndarray]], pairs: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for level, runs in levels.items():
        sizes = [len(r) for r in runs]
        outcome: dict[float, list[dict[str, bool]]] = {1.0: [], SHIFT: []}
        for i in range(pairs):
            pool = runs[i % len(runs)]  # each recorded run in turn, at its own size
            for shift in outcome:
                outcome[shift].append(trial(pool, len(pool), shift, rng))
        false_alarm, fa_each = rates(outcome[1.0])
        detected, det_each = rates(outcome[SHIFT])
        rows.append(
            {
                "level": level,
                "sizes": sizes,
                "spread": float(np.median([np.std(np.log(r)) for r in runs])),
                "false_alarm": false_alarm,
                "detected": detected,
                "fa_each": fa_each,
                "det_each": det_each,
            }
        )
    return rows


def model_check(levels: dict[str, list[np.ndarray]], pairs: int, seed: int) -> None:
    """stats.detectable's prediction against simulation: at the predicted shift, the share
    of pairs in which the rank test alone finds it (target of the model: 95%)."""
    rng = np.random.default_rng(seed)
    print("\nstats.detectable (the 'sees' column) against simulation, rank test alone:")
    for level, runs in levels.items():
        predicted, found = [], []
        for i in range(pairs):
            pool = runs[i % len(runs)]
            a, b = rng.choice(pool, len(pool)), rng.choice(pool, len(pool))
            shift = stats.detectable(a, b, compare.ALPHA) or 0.0
            predicted.append(shift)
            found.append(stats.mann_whitney(a, b * (1 + shift), 1) < compare.ALPHA)
        print(
            f"{level:<9} predicted shift {np.median(predicted):>6.0%} (median over pairs), "
            f"found in {np.mean(found):.1%} of pairs at that shift"
        )


def needed(levels: dict[str, list[np.ndarray]], sizes: list[int], pairs: int, seed: int) -> None:
    """Detection at larger sizes, drawing from the same recordings: what the target needs."""
    rng = np.random.default_rng(seed)
    print(f"\ndetection of +20% (any TTFT percentile) at larger sizes, {pairs} pairs each:")
    print(f"{'level':<10}" + "".join(f"{'n=' + str(n):>10}" for n in sizes))
    for level, runs in levels.items():
        cells = []
        for n in sizes:
            hits = [any(trial(runs[i % len(runs)], n, SHIFT, rng).values()) for i in range(pairs)]
            cells.append(f"{np.mean(hits):>10.1%}")
        print(f"{level:<10}" + "".join(cells))


def record(name: str, runs: int = 2) -> Path:
    """Bring the profile's stack up on the local platform, run its scenarios `runs` times
    (fresh prompts each time), bring it down; return the folder of the runs."""
    import os
    import tempfile

    from lab.config import profile
    from lab.load import lifecycle, scenarios

    os.environ.setdefault("LAB_STATE_DIR", tempfile.mkdtemp(prefix="lab-calibration-"))
    data = Path(tempfile.mkdtemp(prefix="lab-calibration-runs-"))
    lab = profile.load(name)
    current = lifecycle.up(lab, "local", run_smoke=False)
    try:
        for _ in range(runs):
            scenarios.run(lab, current, [], data / name)
    finally:
        lifecycle.down()
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="pairs per level (default 200)")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--sizes", default="", help="also: detection at these sample sizes")
    parser.add_argument(
        "--data", type=Path, default=DATA, help=f"recorded runs to draw from (default {DATA})"
    )
    parser.add_argument(
        "--record",
        metavar="PROFILE",
        help="first record two runs of this profile on the local platform, and draw from them",
    )
    args = parser.parse_args()
    if args.record:
        args.data = record(args.record)
    levels = recordings(args.data)
    began = time.monotonic()
    rows = calibrate(levels, args.pairs, args.seed)
    thresholds = ", ".join(f"{m.name} {m.threshold:g}%" for m in TTFT)
    print(
        f"compare calibration: TTFT from {args.data}, {args.pairs} A/A "
        f"and {args.pairs} shifted (+{SHIFT - 1:.0%}) pairs per level; alpha {compare.ALPHA}, "
        f"thresholds {thresholds}, {stats.N_BOOT} bootstrap resamples"
    )
    print("a verdict counts when any of p50, p90, p99 is 'worse' (per percentile in brackets)\n")
    head = f"{'level':<9}{'n per side':<16}{'sd(log)':>8}{'false alarm':>13}{'detected':>10}"
    print(head + "   per percentile p50/p90/p99: false alarm | detected")
    for row in rows:
        fa = "/".join(f"{v:.1%}" for v in row["fa_each"].values())
        det = "/".join(f"{v:.1%}" for v in row["det_each"].values())
        sizes = ",".join(str(n) for n in row["sizes"])
        print(
            f"{row['level']:<9}{sizes:<16}{row['spread']:>8.2f}{row['false_alarm']:>13.1%}"
            f"{row['detected']:>10.1%}   {fa} | {det}"
        )
    total = len(rows) * args.pairs
    false_alarm = np.mean([r["false_alarm"] for r in rows])
    detected = np.mean([r["detected"] for r in rows])
    print(
        f"\nall levels: {total} A/A pairs, false alarm {false_alarm:.1%} (target ≤ 5%); "
        f"{total} shifted pairs, detected {detected:.1%} (target ≥ 95%); "
        f"{time.monotonic() - began:.0f} s"
    )
    model_check(levels, args.pairs, args.seed + 2)
    if args.sizes:
        needed(levels, [int(n) for n in args.sizes.split(",")], args.pairs, args.seed + 1)


if __name__ == "__main__":
    main()
