"""Calibration of `compare`'s regression gate across separately recorded runs (A/A across time).

Every run given is a separate run of one configuration (a folder of results folders, e.g. what
`python -m lab calibrate PROFILE --repeat N` records). Nothing changed between them, so every
time a gate fails, it is a false alarm. The gate is judged on whole comparisons, as CI uses it:

  (a) old gate   single runs, every metric its own test at alpha, no correction, requests as
                 units only (the gate before run-to-run noise and Holm: its design, with
                 today's test statistic)
  (b) noise      single runs with a noise profile, default gate, Holm; the profile is made of
                 the other runs (leave the pair out), as a profile recorded earlier would be
  (c) folders    folders of K runs against K other runs, default gate, Holm
  (d) no noise   single runs with nothing else known (today's default): default gate, Holm,
                 changes judged only beyond the floor, smaller ones inconclusive

Pairs for (a) and (b): all pairs of runs, the earlier as A. Splits for (c): all splits into two
disjoint folders of K runs, or --splits of them drawn at random when there are more. Comparisons
share runs, so they are not independent: the Clopper–Pearson interval (scipy) is a guide, not a
guarantee. With --shift 1.2, every comparison is made again with B's TTFT and E2E times 1.2
(exact for their percentiles): how often each gate catches a 20% regression.

    nox -s benchmark -- compare-calibration RUNS [RUNS ...] [--folder-size 3] [--splits 45]
    nox -s benchmark -- compare-calibration --record cpu --runs 10   # ~35 min on two cores
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from lab.compare import comparison, estimates, gate, noise, outcomes, runsets, stats
from lab.compare import metrics as compare_metrics
from lab.compare.comparison import Options
from lab.compare.runsets import Run, Unit

Figures = dict[Unit, estimates.LevelFigures]


@dataclass
class Tally:
    """Outcomes of one mode's comparisons."""

    failed: int = 0
    nothing: int = 0  # exit 3
    unsure: int = 0  # comparisons with an inconclusive gated verdict
    verdicts: int = 0  # gated verdicts
    unsure_verdicts: int = 0
    total: int = 0
    blamed: Counter = field(default_factory=Counter)  # level and metric of each regression

    def add(self, result: list[comparison.Row]) -> None:
        gated = [r for r in result if r.gated]
        status = outcomes.gate_status(r.verdict for r in gated)
        inconclusive = sum(r.verdict.word == outcomes.INCONCLUSIVE for r in gated)
        self.total += 1
        self.failed += status == outcomes.REGRESSION
        self.nothing += status == outcomes.NOTHING_TO_GATE
        self.unsure += inconclusive > 0
        self.verdicts += len(gated)
        self.unsure_verdicts += inconclusive
        self.blamed.update(f"{r.unit.level} {r.metric.name}" for r in gated if r.verdict.fails_gate)


def load(paths: list[Path]) -> list[Run]:
    """Every run of the folders given, in the order they started."""
    runs = [run for path in paths for run in runsets.load(path).runs]
    runs.sort(key=lambda run: run.manifest.started)
    profiles = {str(run.manifest.profile) for run in runs}
    if len(profiles) > 1:
        print(f"note: the runs differ in configuration ({len(profiles)} profiles); taken as one")
    return runs


def units_of(runs: list[Run]) -> list[Unit]:
    first = runs[0]
    return [
        Unit(name, scenario.kind, level)
        for name, scenario in first.scenarios.items()
        for level in scenario.levels
        if all(name in r.scenarios and level in r.scenarios[name].levels for r in runs)
    ]


def figures_of(runs: list[Run], units: list[Unit]) -> list[Figures]:
    """Each run's figures of every metric, computed once."""
    out: list[Figures] = [{} for _ in runs]
    for unit in units:
        levels = [r.scenarios[unit.scenario].levels[unit.level] for r in runs]
        hits = estimates.per_request_hits(levels)
        for mine, run in zip(out, runs, strict=True):
            mine[unit] = estimates.run_figures(
                run, unit, compare_metrics.METRICS, hits, stats.N_BOOT
            )
    return out


def shifted(figures: Figures, factor: float) -> Figures:
    """The run's figures as if every TTFT and E2E had been `factor` times longer."""
    if factor == 1:
        return figures
    out = {}
    for unit, level in figures.items():
        values = dict(level.values)
        for name, found in values.items():
            if name.split("_")[0] in ("ttft", "e2e") and isinstance(found, stats.Estimate):
                values[name] = replace(
                    found, value=found.value * factor, y=found.y + math.log(factor)
                )
        out[unit] = estimates.LevelFigures(values, level.methods)
    return out


def judged(
    units: list[Unit], side_a: list[Figures], side_b: list[Figures], options: Options
) -> list[comparison.Row]:
    assessed = [
        comparison.assess(
            unit, metric, [f[unit] for f in side_a], [f[unit] for f in side_b], options
        )
        for unit in units
        for metric in options.metrics
    ]
    return comparison.judge(assessed, options)


def profile_of(runs: list[Run], figures: list[Figures], units: list[Unit]) -> noise.NoiseProfile:
    """A noise profile of these runs, as calibrate would write it (entries only)."""
    document = {
        "runs": [str(run.folder.resolve()) for run in runs],
        "entries": noise.entries(units, figures),
    }
    return noise.NoiseProfile(Path("leave-pair-out") / noise.FILE, document)


def modes(alpha: float) -> dict[str, Options]:
    every = tuple(compare_metrics.METRICS)
    default = gate.select([], every)
    old_gate = gate.Gate({m.name: gate.EVERY_LEVEL for m in every})
    limits = compare_metrics.thresholds([])
    return {
        "(a) old gate": Options(every, old_gate, limits, alpha, correct=False, floor=False),
        "(b) noise": Options(every, default, limits, alpha),
        "(c) folders": Options(every, default, limits, alpha),
        "(d) no noise": Options(every, default, limits, alpha),
    }


def pairs_run(
    runs: list[Run], figures: list[Figures], units: list[Unit], options: Options, shift: float,
    with_profile: bool,
) -> Tally:  # fmt: skip
    tally = Tally()
    for i, j in itertools.combinations(range(len(runs)), 2):
        chosen = options
        if with_profile:
            others = [k for k in range(len(runs)) if k not in (i, j)]
            profile = profile_of([runs[k] for k in others], [figures[k] for k in others], units)
            chosen = replace(options, noise=profile)
        tally.add(judged(units, [figures[i]], [shifted(figures[j], shift)], chosen))
    return tally


def splits(count: int, size: int, most: int, rng: np.random.Generator) -> list[tuple]:
    """Disjoint (A, B) folders of `size` runs each: all of them, or `most` drawn at random."""
    every = [
        (a, b)
        for a in itertools.combinations(range(count), size)
        for b in itertools.combinations([k for k in range(count) if k not in a], size)
    ]
    if len(every) <= most:
        return every
    return [every[k] for k in rng.choice(len(every), most, replace=False)]


def folders_run(
    figures: list[Figures], units: list[Unit], options: Options, shift: float,
    chosen: list[tuple],
) -> Tally:  # fmt: skip
    tally = Tally()
    for a, b in chosen:
        side_a = [figures[k] for k in a]
        side_b = [shifted(figures[k], shift) for k in b]
        tally.add(judged(units, side_a, side_b, options))
    return tally


def rate(k: int, n: int) -> str:
    if not n:
        return "-"
    low, high = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return f"{k}/{n} = {k / n:.1%} [{low:.1%}, {high:.1%}]"


def record(profile: str, runs: int) -> Path:
    """Record the runs the way users do: `lab calibrate PROFILE --repeat N` on the local
    platform; the calibration folder it leaves is a folder of the runs."""
    from lab.cli import main

    base = Path("results")
    before = set(base.glob("calibration-*"))
    code = main(["calibrate", profile, "--repeat", str(runs), "--platform", "local"])
    if code:
        raise SystemExit(code)
    (made,) = set(base.glob("calibration-*")) - before
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="folders of runs of one configuration")
    parser.add_argument("--record", metavar="PROFILE", help="first record --runs runs of it")
    parser.add_argument("--runs", dest="count", type=int, default=10, help="with --record")
    parser.add_argument("--folder-size", type=int, default=3, help="runs per folder in (c)")
    parser.add_argument("--splits", type=int, default=45, help="most folder splits in (c)")
    parser.add_argument("--shift", type=float, default=1.2, help="TTFT and E2E factor; 1: none")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    paths = [*args.runs, *([record(args.record, args.count)] if args.record else [])]
    if not paths:
        parser.error("name folders of recorded runs, or --record PROFILE")
    runs = load(paths)
    units = units_of(runs)
    began = time.monotonic()
    figures = figures_of(runs, units)
    print(
        f"compare calibration: {len(runs)} runs of {runs[0].manifest.profile_name} "
        f"({runs[0].manifest.started} … {runs[-1].manifest.started}), {len(units)} levels; "
        f"figures in {time.monotonic() - began:.0f} s; alpha {args.alpha}"
    )
    size = min(args.folder_size, len(runs) // 2)
    chosen = splits(len(runs), size, args.splits, np.random.default_rng(args.seed))
    print(
        f"(a), (b): {len(runs) * (len(runs) - 1) // 2} pairs of single runs; (c): {len(chosen)} "
        f"splits into folders of {size} runs; detection: B's TTFT and E2E × {args.shift:g}\n"
    )
    head = ("gate", "false alarms (A/A) [95% CI]", "inconclusive", "exit 3", "detected")
    print(f"{head[0]:<14}{head[1]:<34}{head[2]:<26}{head[3]:<8}{head[4]}")
    blamed: list[str] = []
    for name, options in modes(args.alpha).items():
        began = time.monotonic()
        tallies = []
        for shift in (1.0, args.shift):
            if name.startswith("(c)"):
                tallies.append(folders_run(figures, units, options, shift, chosen))
            else:
                profile = name.startswith("(b)")
                tallies.append(pairs_run(runs, figures, units, options, shift, profile))
        aa, moved = tallies
        unsure = f"{aa.unsure}/{aa.total} ({aa.unsure_verdicts}/{aa.verdicts} verdicts)"
        print(
            f"{name:<14}{rate(aa.failed, aa.total):<34}{unsure:<26}{aa.nothing:<8}"
            f"{rate(moved.failed, moved.total)}   ({time.monotonic() - began:.0f} s)"
        )
        blamed.append(
            f"{name}: "
            + (", ".join(f"{what} ×{count}" for what, count in aa.blamed.most_common(6)) or "none")
        )
    print("\nwhat failed the A/A comparisons (level metric × comparisons):")
    print("\n".join(blamed))


if __name__ == "__main__":
    main()
