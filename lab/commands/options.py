"""The options several verbs share, and the argparse types that refuse bad values (exit 2)
before anything runs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from lab.config.profile import Profile


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
    """--profile and --set, the same on every verb that reads a profile, and the shorthands
    platforms add for settings of theirs (each one a --set)."""
    parser.add_argument(
        "--profile",
        type=path,
        default="cpu",
        help="a profile file, or the name of a shipped one in profiles/ (default: cpu)",
    )
    set_options(parser, ", e.g. --set router.routing=session (repeatable)")


def set_options(parser: argparse.ArgumentParser, example: str = " (repeatable)") -> None:
    """--set PATH=VALUE and the platforms' shorthands for it, on every verb that reads a
    profile, whether the profile is an option or an argument."""
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help=f"override a profile setting{example}",
    )
    shorthand_options(parser)


def shorthand_options(parser: argparse.ArgumentParser) -> None:
    """The options platforms add for settings of theirs, each one a --set."""
    from lab import platforms

    for option in platforms.shorthands():
        parser.add_argument(
            option.flag,
            dest="sets",
            action=Shorthand,
            const=(option.setting, option.platform),
            default=argparse.SUPPRESS,
            metavar=option.metavar,
            help=f"{option.help} (--set {option.setting}=...)",
        )


class Shorthand(argparse.Action):
    """A platform's `--flag VALUE`: added to --set as SETTING=VALUE, in the order given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        setting, platform = self.const
        chosen = [f"platform={platform}"] if platform else []
        namespace.sets = [*namespace.sets, *chosen, f"{setting}={values}"]


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


def results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        default="results",
        help="the folder of results folders runs are picked from (default: results)",
    )


def scenario_arguments(lab: Profile, args: argparse.Namespace) -> Path:
    """--scenario names the profile has and an --out results can be written in, checked
    before a stack is touched; the --out folder."""
    for name in args.scenario:
        lab.scenario(name)  # a ConfigError naming the profile's scenarios
    return writable("--out", args.out)
