"""The verb that reads other tools' results: import (lab.interop)."""

from __future__ import annotations

import argparse

from lab.commands.options import path, writable
from lab.errors import ConfigError

FORMATS = ("vllm-bench", "guidellm")  # lab.interop's readers, by the name import takes


def add(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "import",
        help="turn another tool's result (vllm bench serve --save-result, GuideLLM's "
        "benchmarks.json) into a results folder that compare and report read",
    )
    parser.add_argument("format", choices=FORMATS, help="the tool that made FILE")
    parser.add_argument("file", type=path, help="its result file")
    parser.add_argument(
        "--out",
        type=path,
        default="results",
        help="folder that receives the results folder (default: results)",
    )
    parser.add_argument(
        "--as",
        dest="place",
        default="imported/imported",
        metavar="SCENARIO/LEVEL",
        help="the scenario and level its requests become, to compare it with a lab run's "
        "(default: imported/imported)",
    )
    parser.add_argument(
        "--per-request",
        action="store_true",
        help="refuse a file without per-request figures (vllm bench without --save-detailed)",
    )
    parser.set_defaults(run=_import)


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.console import ok
    from lab.interop import guidellm, imported, vllm_bench

    scenario, level = _place(args.place)
    out = writable("--out", args.out)
    source = Path(args.file)
    if args.format == "vllm-bench":
        found = vllm_bench.read(source, args.per_request)
    else:
        found = guidellm.read(source, args.per_request)
    folder = imported.write(found, out, scenario, level)
    for note in found.notes:
        ok(f"note: {note}")
    ok(f"imported {source} ({args.format}) into {folder}")
    return 0


def _place(text: str) -> tuple[str, str]:
    """--as SCENARIO/LEVEL: a scenario name as a profile's (a plain folder name) and a level."""
    import re

    scenario, _, level = text.partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", scenario) or not level.strip():
        raise ConfigError(
            f"--as {text!r}: expected SCENARIO/LEVEL, a scenario name of lower-case letters, "
            "digits, - and _, and a level"
        )
    return scenario, level
