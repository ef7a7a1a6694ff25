"""The verb that writes a run in another form: export FORMAT RUN, one format a function here,
each format's work in its own package (a `lab` trace's: lab.traces.export; vllm bench serve's
result file: lab.interop.exported)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from lab.commands.options import path


def add(verbs: argparse._SubParsersAction) -> None:
    export = verbs.add_parser("export", help="write a run in another form")
    export.add_argument(
        "format",
        choices=sorted(FORMATS),
        help="trace: a lab trace, to replay (kind replay); vllm-bench: a level's requests as "
        "vllm bench serve --save-result --save-detailed writes them",
    )
    export.add_argument("folder", metavar="RUN", type=path, help="a run's results folder")
    export.add_argument(
        "--level", help="SCENARIO/LEVEL or LEVEL to export (needed when the run has several)"
    )
    export.add_argument(
        "--out",
        type=path,
        help="the file to write (default: in RUN, trace.jsonl or vllm-bench-SCENARIO-LEVEL.json)",
    )
    export.set_defaults(run=lambda args: FORMATS[args.format](args))


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


def _vllm_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.console import ok
    from lab.interop import exported

    written = exported.vllm_bench_file(Path(args.folder), args.level, args.out and Path(args.out))
    ok(f"wrote {written}")
    return 0


FORMATS: dict[str, Callable[[argparse.Namespace], int]] = {
    "trace": _trace,
    "vllm-bench": _vllm_bench,
}
