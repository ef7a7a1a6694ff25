"""`python -m lab` / `vllm-lab`: one subcommand per verb; errors are caught here, once."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from lab import __version__, console
from lab.errors import ConfigError, LabError

if TYPE_CHECKING:
    from pathlib import Path

    from lab.compare.comparison import Options
    from lab.config.profile import Profile

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    # A terminated lab (CI timeout, kill) cleans up like an interrupted one.
    signal.signal(signal.SIGTERM, _interrupt)
    console.fit()
    try:
        return args.run(args)
    except ConfigError as exc:
        for problem in exc.shown():
            console.error(problem)
        return exc.exit_code
    except LabError as exc:
        console.error(str(exc), lines=True)  # a failed command's output follows, indented
        return exc.exit_code
    except KeyboardInterrupt:
        console.err.print("[yellow]interrupted[/]")
        return 130


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Parser(argparse.ArgumentParser):
    """argparse, whose mistakes read like the lab's other errors: one line, exit 2."""

    def error(self, message: str) -> NoReturn:
        said = console.printable(f"{self.prog}: {message}", lines=False)
        self.exit(2, f"error: {said} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vllm-lab",
        description="Bring up the vLLM Production Stack, check it, load it, compare runs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND")
    _values_parser(verbs)
    _model_parser(verbs)
    _images_parser(verbs)
    _lifecycle_parsers(verbs)
    _scenario_parsers(verbs)
    _ui_parser(verbs)
    _compare_parsers(verbs)
    _baseline_parser(verbs)
    return parser


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (1 to 65535)")
    return port


def writable(option: str, folder: str | Path) -> Path:
    """`folder` of an --out-like option, refused (exit 2) before anything is computed when
    results cannot be written there."""
    from pathlib import Path

    from lab.results import folder as results

    path = Path(folder)
    results.check_writable(path, option)
    return path


def path(text: str) -> str:
    """An argparse type for a file or folder: a path the operating system cannot take is
    refused here, with the option named (exit 2)."""
    from lab.paths import unusable_name

    if problem := unusable_name(text):
        raise argparse.ArgumentTypeError(problem)
    return text


def profile_options(parser: argparse.ArgumentParser) -> None:
    """--profile and --set, the same on every verb that reads a profile."""
    parser.add_argument(
        "--profile",
        type=path,
        default="cpu",
        help="a profile file, or the name of a shipped one in profiles/ (default: cpu)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a profile setting, e.g. --set router.routing=session (repeatable)",
    )


def _values_parser(verbs: argparse._SubParsersAction) -> None:
    values = verbs.add_parser(
        "values",
        help="print the production-stack Helm values a profile renders to, or check a values file",
    )
    profile_options(values)
    values.add_argument(
        "--platform",
        choices=["kind", "minikube", "existing"],
        help="Kubernetes platform the values are for (default: the profile's, kind for auto)",
    )
    values.add_argument(
        "--check", type=path, metavar="VALUES.yaml", help="validate this Helm values file"
    )
    values.add_argument(
        "--strict",
        action="store_true",
        help="with --check: refuse clear-text secrets (token, API key) instead of warning",
    )
    values.set_defaults(run=_values)


def _values(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from lab.config import profile as profiles
    from lab.config import values
    from lab.config.cleartext import clear_text_secrets

    if args.check:
        path = Path(args.check)
        secrets = clear_text_secrets(values.check_file(path))
        lines = [f"{path}: {where}: {advice}" for where, advice in secrets]
        if args.strict and lines:
            raise ConfigError(lines)
        for line in lines:
            console.warn(line)
        console.err.print(f"✅ {console.plain(args.check)}: valid vllm-stack values")
        return 0
    profile = profiles.load(args.profile, args.sets)
    platform = args.platform or profile.platform
    hf_token = bool(os.environ.get(profile.model.hf_token_env))
    sys.stdout.write(values.to_yaml(values.render(profile, platform, hf_token=hf_token)))
    return 0


def _model_parser(verbs: argparse._SubParsersAction) -> None:
    model = verbs.add_parser("model", help="make the lab's tiny model (lab:tiny-llama)")
    model.add_argument("which", choices=["tiny"], help="the model to make")
    model.add_argument(
        "--out", type=path, help="folder to write it to (default: the lab's model cache)"
    )
    model.set_defaults(run=_model)


def _model(args: argparse.Namespace) -> int:
    from lab.config import model
    from lab.console import ok

    folder, made = model.ensure_tiny(writable("--out", args.out) if args.out else None)
    ok(f"{'made' if made else 'already made'}: lab:tiny-llama at {folder} (recipe {model.RECIPE})")
    return 0


def _images_parser(verbs: argparse._SubParsersAction) -> None:
    images = verbs.add_parser(
        "images", help="build the lab's own container images (for Docker hosts with no registry)"
    )
    images.add_argument("action", choices=["build"], help="build (cached) and load them")
    images.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="engine, router, prometheus (default: all three)",
    )
    dry_run_option(images)
    images.set_defaults(run=_images)


def _images(args: argparse.Namespace) -> int:
    from lab.platforms.compose import images

    images.build(args.names, dry_run=args.dry_run)
    return 0


def _lifecycle_parsers(verbs: argparse._SubParsersAction) -> None:
    up = verbs.add_parser("up", help="bring a stack up, then smoke-test it")
    profile_options(up)
    platform_option(up)
    up.add_argument("--no-smoke", action="store_true", help="skip the smoke test after up")
    dry_run_option(up)
    up.set_defaults(run=_up)

    cycle = verbs.add_parser(
        "cycle", help="up, smoke, routing check, scenarios, down: what nox -s cpu-lab runs"
    )
    profile_options(cycle)
    platform_option(cycle)
    cycle.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    scenario_options(cycle)
    cycle.set_defaults(run=_cycle)

    restart = verbs.add_parser(
        "restart-router",
        help="start the router again with the profile's router settings; engines untouched "
        "(local, compose)",
    )
    profile_options(restart)
    restart.set_defaults(run=_restart_router)

    verbs.add_parser("status", help="the running lab at one glance").set_defaults(run=_status)
    verbs.add_parser("smoke", help="smoke-test the running stack").set_defaults(run=_smoke)
    verbs.add_parser(
        "check-routing", help="prove the routing logic from the engines' own counters"
    ).set_defaults(run=_check_routing)
    down = verbs.add_parser("down", help="stop exactly what the lab started")
    down.add_argument(
        "--volumes", action="store_true", help="remove the lab's volumes too (compose platform)"
    )
    dry_run_option(down)
    down.set_defaults(run=_down)

    monitor = verbs.add_parser("monitor", help="where the lab's Prometheus and Grafana are")
    monitor.add_argument(
        "--port-forward", action="store_true", help="forward them to loopback (down stops it)"
    )
    monitor.set_defaults(run=_monitor)


def dry_run_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print the exact plan and change nothing"
    )


def platform_option(parser: argparse.ArgumentParser) -> None:
    from lab.platforms import PLATFORMS

    parser.add_argument(
        "--platform",
        choices=PLATFORMS,
        help="where the stack runs (default: LAB_PLATFORM, then the profile, then auto-detect)",
    )


def _up(args: argparse.Namespace) -> int:
    from lab.config import profile

    lab = profile.load(args.profile, args.sets)
    from lab.load import lifecycle  # heavy (openai, matplotlib): after the arguments are checked

    if args.dry_run:
        lifecycle.plan(lab, args.platform)
    else:
        lifecycle.up(lab, args.platform, run_smoke=not args.no_smoke)
    return 0


def _restart_router(args: argparse.Namespace) -> int:
    from lab.config import profile

    lab = profile.load(args.profile, args.sets)
    from lab.load import lifecycle  # heavy (openai, matplotlib): after the arguments are checked

    lifecycle.restart_router(lab)
    return 0


def _cycle(args: argparse.Namespace) -> int:
    from lab.config import profile

    lab = profile.load(args.profile, args.sets)
    out = _scenario_arguments(lab, args)
    from lab.load import lifecycle  # heavy (openai, matplotlib): after the arguments are checked

    lifecycle.cycle(lab, args.platform, args.keep, args.scenario, out)
    return 0


def _status(args: argparse.Namespace) -> int:
    from lab import platforms
    from lab.console import say
    from lab.stack import state, status

    current = state.load()
    if current is None or current.endpoints is None:
        say("💤 no lab is up here; start one with `python -m lab up --profile cpu`")
        return 0
    conditions = platforms.get(current.platform).health(current)
    return 0 if status.show(current, conditions) else 1


def _smoke(args: argparse.Namespace) -> int:
    from lab.stack import smoke, state

    smoke.run(state.require().require_endpoints())
    return 0


def _check_routing(args: argparse.Namespace) -> int:
    from lab.stack import routing_check, state

    routing_check.run(state.require().require_endpoints())
    return 0


def _monitor(args: argparse.Namespace) -> int:
    from lab import monitor

    monitor.run(port_forward=args.port_forward)
    return 0


def _down(args: argparse.Namespace) -> int:
    from lab.console import say
    from lab.load import lifecycle

    if not lifecycle.down(dry_run=args.dry_run, volumes=args.volumes):
        say("💤 nothing to stop: no lab is up here")
    return 0


def scenario_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this scenario of the profile (repeatable; default: all)",
    )
    parser.add_argument(
        "--out",
        type=path,
        default="results",
        help="folder that receives the results folder (default: results)",
    )


def _scenario_parsers(verbs: argparse._SubParsersAction) -> None:
    run = verbs.add_parser("run", help="run the profile's Locust scenarios against the stack up")
    profile_options(run)
    scenario_options(run)
    dry_run_option(run)
    run.set_defaults(run=_run)

    report = verbs.add_parser("report", help="render report.html of a results folder again")
    report.add_argument("folder", type=path, help="a results folder")
    report.set_defaults(run=_report)


def _run(args: argparse.Namespace) -> int:
    from lab.config import profile
    from lab.stack import state

    lab = profile.load(args.profile, args.sets)
    if args.dry_run:
        from pathlib import Path

        for name in args.scenario:
            lab.scenario(name)  # a ConfigError naming the profile's scenarios
        from lab.load import dryrun  # heavy (openai, matplotlib): after the arguments are checked

        dryrun.run_plan(lab, state.load(), args.scenario, Path(args.out))
        return 0
    out = _scenario_arguments(lab, args)
    from lab.load import scenarios  # heavy (openai, matplotlib): after the arguments are checked

    scenarios.run(lab, state.require(), args.scenario, out)
    return 0


def _scenario_arguments(lab: Profile, args: argparse.Namespace) -> Path:
    """--scenario names the profile has and an --out results can be written in, checked
    before a stack is touched; the --out folder."""
    for name in args.scenario:
        lab.scenario(name)  # a ConfigError naming the profile's scenarios
    return writable("--out", args.out)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.console import ok
    from lab.results import folder as results
    from lab.results import manifest as manifests

    folder = Path(args.folder)
    manifests.read(folder)
    results.check_writable(folder, "report")
    from lab.results import report  # heavy (matplotlib): after the folder is checked

    ok(f"report: {report.write(folder)}")
    return 0


def _ui_parser(verbs: argparse._SubParsersAction) -> None:
    ui = verbs.add_parser(
        "ui", help="serve the Locust web UI with the lab's scenarios (brings a stack up if none is)"
    )
    profile_options(ui)
    platform_option(ui)
    ui.add_argument(
        "--web-port", type=port_number, default=8089, help="web UI port (default: 8089)"
    )
    ui.add_argument(
        "--out",
        type=path,
        default="results",
        help="folder that receives a results folder per test started in the UI (default: results)",
    )
    ui.set_defaults(run=_ui)


def _ui(args: argparse.Namespace) -> int:
    from lab.config import profile

    lab = profile.load(args.profile, args.sets)
    out = writable("--out", args.out)
    from lab.load import web_ui  # heavy (openai, matplotlib): after the arguments are checked

    web_ui.serve(lab, args.platform, args.web_port, out)
    return 0


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
    calibrate.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a profile setting (repeatable)",
    )
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


def results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        default="results",
        help="the folder of results folders runs are picked from (default: results)",
    )


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
