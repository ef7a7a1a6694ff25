"""`python -m lab` / `vllm-lab`: one subcommand per verb; errors are caught here, once."""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vllm-lab",
        description="Bring up the vLLM Production Stack, check it, load it, compare runs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND")
    _values_parser(verbs)
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

    from lab import profile as profiles
    from lab import values

    if args.check:
        values.check_file(Path(args.check))
        err.print(f"✅ {args.check}: valid vllm-stack values")
        return 0
    profile = profiles.load(args.profile, args.sets)
    platform = args.platform or profile.platform
    hf_token = bool(os.environ.get(profile.model.hf_token_env))
    sys.stdout.write(values.to_yaml(values.render(profile, platform, hf_token=hf_token)))
    return 0
