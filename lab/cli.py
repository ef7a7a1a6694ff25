"""`python -m lab` / `vllm-lab`: one subcommand per verb, their work in lab.commands (one
module per group of verbs); errors are caught here, once."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence
from typing import NoReturn

from lab import __version__, console
from lab.commands import compare, export, interop, load, stack, trace
from lab.errors import ConfigError, LabError


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
    stack.add(verbs)
    load.add(verbs)
    compare.add(verbs)
    interop.add(verbs)
    export.add(verbs)
    trace.add(verbs)
    return parser
