"""The verbs that compare runs: compare, ab, calibrate, baseline."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from lab.commands.options import (
    path,
    platform_option,
    results_option,
    scenario_options,
    set_options,
    writable,
)
from lab.errors import ConfigError

if TYPE_CHECKING:
    from lab.compare.comparison import Options


def add(verbs: argparse._SubParsersAction) -> None:
    _compare_parsers(verbs)
    _baseline_parser(verbs)


def _compare_parsers(verbs: argparse._SubParsersAction) -> None:
    """compare (two runs or sets of runs), ab (run two configurations interleaved, compare) and
    calibrate (record a configuration's run-to-run noise, for compare --noise)."""

    def gate_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--metrics",
            action="append",
            default=[],
            metavar="NAMES",
            help="metrics or families to compare, comma-separated (default: all)",
        )
        parser.add_argument(
            "--gate",
            action="append",
            default=[],
            metavar="NAMES",
            help="metrics or families the gate judges on every level, comma-separated "
            "(default: TTFT p50, p90, TPOT p50, E2E p90, output tokens/s, error rate; hit rate "
            "and stickiness on routing levels)",
        )
        parser.add_argument(
            "--threshold",
            action="append",
            default=[],
            metavar="METRIC=PCT",
            help="smallest change that counts: %% of A, or points for rates (repeatable)",
        )
        parser.add_argument(
            "--alpha",
            type=float,
            default=0.05,
            help="false-alarm rate of the whole gate; of each metric not gated (default: 0.05)",
        )
        parser.add_argument(
            "--noise",
            type=path,
            metavar="PATH",
            help="a noise profile (results/calibration-…, made by calibrate): run-to-run noise "
            "for comparisons of single runs",
        )
        parser.add_argument(
            "--fail-on-regression",
            action="store_true",
            help="exit 1 when a gated metric is worse; 3 when every gated metric is n/a",
        )

    compare = verbs.add_parser(
        "compare",
        help="compare two results folders (or folders of repeated runs): B against A; "
        "with none named, the newest run against the baseline or its profile's previous run",
    )
    compare.add_argument(
        "runs",
        nargs="*",
        type=path,
        metavar="RUN",
        help="RUN_A RUN_B: results folders, or folders of runs (default: picked in --results)",
    )
    results_option(compare)
    gate_options(compare)
    compare.add_argument(
        "--paired",
        action="store_true",
        help="judge run i of A against run i of B, in the order they started: for runs made "
        "turn about (A B, B A, ...), so that drift slower than a pair cancels",
    )
    compare.add_argument(
        "--strict",
        action="store_true",
        help="refuse a folder of runs whose runs differ in profile, settings or lab version "
        "(default: a warning naming the difference)",
    )
    compare.add_argument(
        "--out",
        type=path,
        help="new folder for the report (default: results/compare-<time>-<A>-vs-<B>)",
    )
    compare.set_defaults(run=_compare)

    ab = verbs.add_parser(
        "ab", help="run two configurations interleaved (A B, B A, ...), then compare them"
    )
    for side in ("a", "b"):
        ab.add_argument(
            f"profile_{side}",
            type=path,
            metavar=f"PROFILE_{side.upper()}",
            help=f"profile of {side.upper()} (file or shipped name)",
        )
    ab.add_argument("--repeat", type=int, default=5, help="runs of each (default: 5)")
    ab.add_argument(
        "--concurrent",
        action="store_true",
        help="both up at once (local platform), one load spread over both at random; "
        "each of the --repeat repetitions on stacks brought up afresh (docs/compare.md)",
    )
    ab.add_argument(
        "--paired",
        action="store_true",
        help="judge run i of A against run i of B, the two runs of one turn, rather than the "
        "runs as two groups: what drifted slower than a turn cancels (side by side always pairs)",
    )
    for side in ("a", "b"):
        ab.add_argument(
            f"--set-{side}",
            action="append",
            default=[],
            metavar="PATH=VALUE",
            help=f"override a setting of {side.upper()}'s profile (repeatable)",
        )
    platform_option(ab)
    scenario_options(ab)
    gate_options(ab)
    ab.set_defaults(run=_ab)

    calibrate = verbs.add_parser(
        "calibrate",
        help="run one configuration N times and record its run-to-run noise (for compare --noise)",
    )
    calibrate.add_argument(
        "profile",
        nargs="?",
        type=path,
        metavar="PROFILE",
        help="profile to run (file or shipped name)",
    )
    calibrate.add_argument("--repeat", type=int, default=10, help="runs (default: 10, at least 3)")
    set_options(calibrate)
    calibrate.add_argument(
        "--from",
        dest="runs_from",
        type=path,
        metavar="RUNS",
        help="no runs: make the noise profile from runs already recorded (a folder of results "
        "folders of one configuration)",
    )
    platform_option(calibrate)
    scenario_options(calibrate)
    calibrate.set_defaults(run=_calibrate)


def _compare_options(args: argparse.Namespace, paired: bool = False) -> Options:
    from lab.compare import run as compare_run

    return compare_run.options(
        args.metrics,
        args.gate,
        args.threshold,
        args.alpha,
        args.noise,
        args.fail_on_regression,
        paired,
    )


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.compare import pick
    from lab.compare import run as compare_run

    chosen = _compare_options(args, args.paired)  # refused before runs are looked for
    run_a, run_b = pick.runs(args.runs, Path(args.results))
    out = Path(args.out) if args.out else None
    return compare_run.run(run_a, run_b, chosen, out, args.fail_on_regression, args.strict)


def _baseline_parser(verbs: argparse._SubParsersAction) -> None:
    baseline = verbs.add_parser(
        "baseline", help="the run `compare` with no runs named compares the newest run against"
    )
    baseline.add_argument("action", choices=["set", "show", "clear"])
    baseline.add_argument(
        "folder", nargs="?", metavar="RUN", help="with set: a results folder, or folder of runs"
    )
    results_option(baseline)
    baseline.set_defaults(run=_baseline)


def _baseline(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.compare import pick
    from lab.errors import ConfigError

    base = Path(args.results)
    if (args.action == "set") != bool(args.folder):
        wanted = "name the run to set" if args.action == "set" else "takes no run"
        raise ConfigError(f"baseline {args.action}: {wanted}")
    if args.action == "set":
        pick.set_baseline(base, Path(args.folder))
    elif args.action == "show":
        pick.show_baseline(base)
    else:
        pick.clear_baseline(base)
    return 0


def _ab(args: argparse.Namespace) -> int:
    from lab.compare import run as compare_run
    from lab.config import profile
    from lab.load import ab, concurrent

    chosen = _compare_options(args, args.paired)  # refuse bad options before hours of runs
    if args.paired and args.repeat < 2:
        raise ConfigError(f"--paired --repeat {args.repeat}: pairs need --repeat 2 or more")
    out = writable("--out", args.out)
    arms = [
        ab.Arm("A", profile.load(args.profile_a, args.set_a), tuple(args.set_a)),
        ab.Arm("B", profile.load(args.profile_b, args.set_b), tuple(args.set_b)),
    ]
    design = concurrent.run if args.concurrent else ab.run
    folder = design(arms, args.repeat, args.platform, args.scenario, out)
    return compare_run.run(
        folder / "A", folder / "B", chosen, folder / "compare", args.fail_on_regression
    )


def _calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.compare import noise, report, runsets
    from lab.config import profile
    from lab.console import ok
    from lab.errors import ConfigError
    from lab.load import ab, calibrate
    from lab.paths import safe_name
    from lab.results import folder as results

    if bool(args.profile) == bool(args.runs_from):
        raise ConfigError("calibrate: name a PROFILE to run, or --from RUNS already recorded")
    out = writable("--out", args.out)
    if args.runs_from:
        runs = runsets.load(Path(args.runs_from))
        noise.check_runs(runs)
        name = safe_name(runs.runs[0].manifest.profile_name, limit=40)  # read from a file
        folder = results.new_folder(out, f"calibration-{results.stamp()}-{name}")
    else:
        if args.repeat < noise.MIN_RUNS:
            raise ConfigError(
                f"--repeat {args.repeat}: a noise profile needs at least {noise.MIN_RUNS} runs"
            )
        arm = ab.Arm("A", profile.load(args.profile, args.sets), tuple(args.sets))
        folder = calibrate.run(arm, args.repeat, args.platform, args.scenario, out)
        runs = runsets.load(folder)
    path = noise.save(noise.build(runs, folder), folder)
    report.show_noise(noise.load(path))
    ok(f"noise profile: {path}; compare single runs with it: compare A B --noise {folder}")
    return 0
