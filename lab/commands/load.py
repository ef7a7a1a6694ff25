"""The verbs that load a stack or render what it recorded: run, report, ui."""

from __future__ import annotations

import argparse

from lab.commands.options import (
    dry_run_option,
    path,
    platform_option,
    port_number,
    profile_options,
    scenario_arguments,
    scenario_options,
    writable,
)


def add(verbs: argparse._SubParsersAction) -> None:
    _scenario_parsers(verbs)
    _ui_parser(verbs)


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
    out = scenario_arguments(lab, args)
    from lab.load import scenarios  # heavy (openai, matplotlib): after the arguments are checked

    scenarios.run(lab, state.require(), args.scenario, out)
    return 0


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
