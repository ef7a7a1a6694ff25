"""The verb that writes a lab run in another tool's format: export, one subcommand per format
(its logic in lab.interop)."""

from __future__ import annotations

import argparse

from lab.commands.options import path


def add(verbs: argparse._SubParsersAction) -> None:
    export = verbs.add_parser("export", help="write a lab run in another tool's format")
    formats = export.add_subparsers(title="formats", metavar="FORMAT")
    vllm = formats.add_parser(
        "vllm-bench",
        help="a level's requests as vllm bench serve --save-result --save-detailed writes them",
    )
    vllm.add_argument("folder", type=path, metavar="RUN", help="a results folder")
    vllm.add_argument(
        "--level",
        metavar="SCENARIO/LEVEL",
        help="the level to export (default: the run's only one)",
    )
    vllm.add_argument(
        "--out",
        type=path,
        metavar="FILE",
        help="the file to write (default: vllm-bench-<scenario>-<level>.json in the run)",
    )
    vllm.set_defaults(run=_vllm_bench)


def _vllm_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.console import ok
    from lab.interop import exported

    written = exported.vllm_bench_file(Path(args.folder), args.level, args.out and Path(args.out))
    ok(f"wrote {written}")
    return 0
