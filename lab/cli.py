"""`python -m lab` / `vllm-lab`: one subcommand per verb; errors are caught here, once."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence

from rich.markup import escape

from lab import __version__
from lab.console import err
from lab.errors import ConfigError, LabError

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    # A terminated lab (CI timeout, kill) cleans up like an interrupted one.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.run(args)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"[red]error:[/] {escape(problem)}")
        return exc.exit_code
    except LabError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return 130


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    return parser


def profile_options(parser: argparse.ArgumentParser) -> None:
    """--profile and --set, the same on every verb that reads a profile."""
    parser.add_argument(
        "--profile",
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
    values.add_argument("--check", metavar="VALUES.yaml", help="validate this Helm values file")
    values.set_defaults(run=_values)


def _values(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from lab.config import profile as profiles
    from lab.config import values

    if args.check:
        values.check_file(Path(args.check))
        err.print(f"✅ {args.check}: valid vllm-stack values")
        return 0
    profile = profiles.load(args.profile, args.sets)
    platform = args.platform or profile.platform
    hf_token = bool(os.environ.get(profile.model.hf_token_env))
    sys.stdout.write(values.to_yaml(values.render(profile, platform, hf_token=hf_token)))
    return 0


def _model_parser(verbs: argparse._SubParsersAction) -> None:
    model = verbs.add_parser("model", help="make the lab's tiny model (lab:tiny-llama)")
    model.add_argument("which", choices=["tiny"], help="the model to make")
    model.add_argument("--out", help="folder to write it to (default: the lab's model cache)")
    model.set_defaults(run=_model)


def _model(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.config import model
    from lab.console import ok

    folder, made = model.ensure_tiny(Path(args.out) if args.out else None)
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
    from lab.load import lifecycle

    lab = profile.load(args.profile, args.sets)
    lifecycle.up(lab, args.platform, run_smoke=not args.no_smoke, dry_run=args.dry_run)
    return 0


def _cycle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.config import profile
    from lab.load import lifecycle

    lab = profile.load(args.profile, args.sets)
    lifecycle.cycle(lab, args.platform, args.keep, args.scenario, Path(args.out))
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

    smoke.run(state.require().endpoints)
    return 0


def _check_routing(args: argparse.Namespace) -> int:
    from lab.stack import routing_check, state

    routing_check.run(state.require().endpoints)
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
    report.add_argument("folder", help="a results folder")
    report.set_defaults(run=_report)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.config import profile
    from lab.load import scenarios
    from lab.stack import state

    lab = profile.load(args.profile, args.sets)
    if args.dry_run:
        from lab.load import plan

        plan.run_plan(lab, state.load(), args.scenario, Path(args.out))
        return 0
    scenarios.run(lab, state.require(), args.scenario, Path(args.out))
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.console import ok
    from lab.results import folder as results
    from lab.results import report

    folder = Path(args.folder)
    results.load_manifest(folder)
    ok(f"report: {report.write(folder)}")
    return 0


def _ui_parser(verbs: argparse._SubParsersAction) -> None:
    ui = verbs.add_parser(
        "ui", help="serve the Locust web UI with the lab's scenarios (brings a stack up if none is)"
    )
    profile_options(ui)
    platform_option(ui)
    ui.add_argument("--web-port", type=int, default=8089, help="web UI port (default: 8089)")
    ui.set_defaults(run=_ui)


def _ui(args: argparse.Namespace) -> int:
    from lab.config import profile
    from lab.load import web_ui

    web_ui.serve(profile.load(args.profile, args.sets), args.platform, args.web_port)
    return 0


def _compare_parsers(verbs: argparse._SubParsersAction) -> None:
    """compare (two runs or sets of runs) and ab (run two configurations interleaved, compare)."""

    def gate_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--metrics",
            action="append",
            default=[],
            metavar="NAMES",
            help="metrics or families to compare, comma-separated (default: all)",
        )
        parser.add_argument(
            "--threshold",
            action="append",
            default=[],
            metavar="METRIC=PCT",
            help="smallest change that counts: %% of A, or points for rates (repeatable)",
        )
        parser.add_argument(
            "--alpha", type=float, default=0.05, help="significance level (default: 0.05)"
        )
        parser.add_argument(
            "--fail-on-regression",
            action="store_true",
            help="exit 1 when a metric is significantly worse beyond its threshold",
        )

    compare = verbs.add_parser(
        "compare", help="compare two results folders (or folders of repeated runs): B against A"
    )
    compare.add_argument("run_a", metavar="RUN_A", help="results folder, or folder of runs")
    compare.add_argument("run_b", metavar="RUN_B", help="results folder, or folder of runs")
    gate_options(compare)
    compare.add_argument(
        "--out", help="new folder for the report (default: results/compare-<time>-<A>-vs-<B>)"
    )
    compare.set_defaults(run=_compare)

    ab = verbs.add_parser(
        "ab", help="run two configurations interleaved (A B A B ...), then compare them"
    )
    ab.add_argument("profile_a", metavar="PROFILE_A", help="profile of A (file or shipped name)")
    ab.add_argument("profile_b", metavar="PROFILE_B", help="profile of B (file or shipped name)")
    ab.add_argument("--repeat", type=int, default=5, help="runs of each (default: 5)")
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


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.compare import report as compare_report

    out = Path(args.out) if args.out else None
    return compare_report.run(
        Path(args.run_a),
        Path(args.run_b),
        metric_names=args.metrics,
        threshold_items=args.threshold,
        alpha=args.alpha,
        out=out,
        fail_on_regression=args.fail_on_regression,
    )


def _ab(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.compare import metrics as compare_metrics
    from lab.compare import report as compare_report
    from lab.config import profile
    from lab.load import ab

    compare_metrics.select(args.metrics)  # refuse bad gate options before hours of runs
    compare_metrics.thresholds(args.threshold)
    arms = [
        ab.Arm("A", profile.load(args.profile_a, args.set_a), tuple(args.set_a)),
        ab.Arm("B", profile.load(args.profile_b, args.set_b), tuple(args.set_b)),
    ]
    folder = ab.run(arms, args.repeat, args.platform, args.scenario, Path(args.out))
    return compare_report.run(
        folder / "A",
        folder / "B",
        metric_names=args.metrics,
        threshold_items=args.threshold,
        alpha=args.alpha,
        out=folder / "compare",
        fail_on_regression=args.fail_on_regression,
    )
