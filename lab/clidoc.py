"""The CLI reference (docs/cli.md), written from the parsers themselves so that it cannot drift
from them: `python -m lab.clidoc > docs/cli.md` writes it again; a test fails when it is stale.

Rendered from argparse's actions rather than its `format_help()`, whose layout changes with the
terminal's width and the Python version: the page must be the same wherever it is made.
"""

from __future__ import annotations

import argparse
import sys

from lab.cli import build_parser

HEADER = """# CLI reference

Generated from the lab's parsers by `python -m lab.clidoc > docs/cli.md`; do not edit by hand
(`tests/test_docs.py` fails when this page and the parsers differ).

Every verb runs as `vllm-lab VERB` (the console script) or `python -m lab VERB`, in a Python
where the lab is installed: after `nox -s cpu-lab`, that is `.nox/cpu-lab/bin/vllm-lab`
(README, Quickstart). Exit status: 0 done, 1 a step failed (or `--fail-on-regression` found a
regression), 2 bad input (one line naming what and where, before anything starts), 3 nothing
measurable to gate, 130 interrupted.
"""


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference page of `parser` (the lab's own by default), one section per verb."""
    parser = parser or build_parser()
    lines = [HEADER]
    verbs = _verbs(parser)
    lines.append("| verb | what it does |\n| --- | --- |")
    lines += [f"| [`{name}`](#{name}) | {_cell(helps)} |" for name, helps, _ in verbs]
    for name, helps, sub in verbs:
        lines.append(f"\n## {name}\n\n{helps}.\n")
        lines.append(f"```console\n$ vllm-lab {name} {_usage(sub)}\n```\n")
        rows = [_row(action) for action in sub._actions if not _is_help(action)]
        if rows:
            lines.append("| argument | meaning |\n| --- | --- |")
            lines += rows
    return "\n".join(lines).rstrip() + "\n"


def _verbs(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each verb, in the order `--help` lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return [(name, helps[name], sub) for name, sub in action.choices.items()]
    return []


def _is_help(action: argparse.Action) -> bool:
    return isinstance(action, argparse._HelpAction)


def _usage(parser: argparse.ArgumentParser) -> str:
    """The verb's arguments in one line: positionals as they are, options in brackets."""
    parts = []
    for action in parser._actions:
        if _is_help(action):
            continue
        if action.option_strings:
            parts.append(f"[{_option(action)}]")
        else:
            parts.append(_positional(action))
    return " ".join(parts)


def _row(action: argparse.Action) -> str:
    name = _option(action) if action.option_strings else _positional(action)
    meaning = action.help or ""
    shown = action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS)
    if shown and "default" not in meaning:
        meaning += f" (default: {action.default})"
    # argparse help strings escape a percent sign as %%
    return f"| `{name}` | {_cell(meaning.replace('%%', '%'))} |"


def _option(action: argparse.Action) -> str:
    flags = ", ".join(action.option_strings)
    if action.nargs == 0:
        return flags
    return f"{flags} {_metavar(action)}"


def _positional(action: argparse.Action) -> str:
    word = _metavar(action)
    if action.nargs == "?":
        return f"[{word}]"
    if action.nargs == "*":
        return f"[{word} ...]"
    return word


def _metavar(action: argparse.Action) -> str:
    if action.choices is not None:
        return "{" + ",".join(str(choice) for choice in action.choices) + "}"
    if isinstance(action.metavar, str):
        return action.metavar
    return action.dest.upper()


def _cell(text: str) -> str:
    """Text fit for one table cell."""
    return " ".join(text.split()).replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.write(render())
