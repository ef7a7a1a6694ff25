"""The verb that writes a run in another form: export, one subcommand per format (each format's
work in its own package: a `lab` trace's in lab.traces.export)."""

from __future__ import annotations

import argparse

from lab.commands.options import path


def add(verbs: argparse._SubParsersAction) -> None:
    export = verbs.add_parser("export", help="write a run in another form")
    formats = export.add_subparsers(title="formats", metavar="FORMAT")
    trace = formats.add_parser(
        "trace", help="a run's requests as a lab trace, to replay (scenario kind replay)"
    )
    trace.add_argument("folder", metavar="RUN", type=path, help="a run's results folder")
    trace.add_argument(
        "--level", help="SCENARIO/LEVEL or LEVEL to export (needed when the run has several)"
    )
    trace.add_argument("--out", type=path, help="the trace file (default: RUN/trace.jsonl)")
    trace.set_defaults(run=_trace)
    export.set_defaults(run=lambda _: _help(export))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _trace(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.console import ok
    from lab.traces import export

    run = Path(args.folder)
    out = Path(args.out) if args.out else run / "trace.jsonl"
    written = export.write(run, args.level, out)
    left = f" ({written.failed} failed left out)" if written.failed else ""
    ok(f"{written.level}: {written.requests} requests{left} → {out}")
    return 0
