"""Commands as the docs write them, checked against the real parsers and noxfile.py.

A doc writes a command for a reader, with placeholders (`RUN_A`, `--repeat N`, `[--set ...]`,
`local|compose`): each is turned into a value the option accepts before the command is parsed,
so that what is checked is what the reader would type. Nothing is run.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
# A lab command: `python -m lab VERB …` or the console script, wherever it is installed.
LAB = re.compile(r"^(?:\$\s+)?(?:\S*/)?(?:python3? -m lab|vllm-lab)(?=\s|$)(.*)$")
NOX = re.compile(r"\bnox -s ((?:[a-z][\w-]*\s*)+)(.*)$")
FENCE = re.compile(r"^(```|~~~)")
ELLIPSIS = ("...", "…")
SHELL_STOP = {"|", ">", ">>", "&&", ";", "2>&1", "||"}


@dataclass(frozen=True)
class Command:
    """A command as a doc writes it: where, and its words after `python -m lab`/`vllm-lab`
    (or after `nox -s`)."""

    where: str
    text: str


def pages() -> list[Path]:
    """README.md and docs/*.md: what a reader follows. The measurements log is a record of
    what was run then, not instructions."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code(text: str) -> list[tuple[int, str]]:
    """(line, code) of every command-like piece of a page: each line of a fenced block (with its
    `\\` continuations joined), and each inline code span."""
    found: list[tuple[int, str]] = []
    prose: list[tuple[int, str]] = []
    lines = text.splitlines()
    fenced = False
    held = ""
    for number, line in enumerate(lines, 1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if fenced:
            held += line.rstrip()
            if held.endswith("\\"):
                held = held[:-1] + " "
                continue
            found.append((number, held.strip()))
            held = ""
        else:
            prose.append((number, line))
    # Inline spans may run over a line break: join each paragraph, remembering its first line.
    paragraph: list[str] = []
    start = 0
    for number, line in [*prose, (0, "")]:
        if line.strip() and number:
            if not paragraph:
                start = number
            paragraph.append(line)
            continue
        joined = " ".join(paragraph)
        found += [(start, " ".join(span.split())) for span in re.findall(r"`([^`]+)`", joined)]
        paragraph = []
    return found


def lab_commands(path: Path) -> list[Command]:
    where = path.relative_to(ROOT)
    commands = []
    for number, piece in code(path.read_text()):
        if match := LAB.match(piece):
            commands.append(Command(f"{where}:{number}", match.group(1).strip()))
    return commands


def nox_commands(path: Path) -> list[Command]:
    where = path.relative_to(ROOT)
    commands = []
    for number, piece in code(path.read_text()):
        if match := NOX.search(piece):
            commands.append(Command(f"{where}:{number}", match.group(0)))
    return commands


def words(text: str) -> list[str]:
    """The command's words up to a comment or a shell operator."""
    try:
        split = shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote in a doc: let the parser say what it makes of it
        split = text.split()
    taken = []
    for word in split:
        if word in SHELL_STOP:
            break
        taken.append(word)
    return taken


def verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def problems(parser: argparse.ArgumentParser, command: Command) -> list[str]:
    """What is wrong with a lab command as written: a verb or option that does not exist, or
    arguments the verb's parser refuses (placeholders filled in), with and without --help."""
    given = [_unbracket(word) for word in words(command.text)]
    given = [word for word in given if word]
    if not given or given[0].startswith("-") or given[0] in ELLIPSIS or given[0].isupper():
        return []  # the program named on its own (`vllm-lab --version`, `python -m lab VERB`)
    verb, *rest = given
    known = verbs(parser)
    if verb not in known:
        return [f"{command.where}: {verb!r} is not a verb (have: {', '.join(known)})"]
    sub = known[verb]
    if not rest:  # the verb named in a sentence (`vllm-lab ab`): it exists and has its help
        rest = ["--help"]
    found = []
    for word in rest:
        if word == "--":
            break
        option = word.split("=", 1)[0]
        if option.startswith("--") and option not in sub._option_string_actions:
            found.append(f"{command.where}: {verb}: no option {option}")
    if found:
        return found
    argv = [verb, *_filled(sub, rest)]
    if "--dry-run" in sub._option_string_actions and "--dry-run" not in argv:
        argv.append("--dry-run")
    for attempt in (argv, [verb, "--help"]):
        status, said = _parse(parser, attempt)
        if status not in (None, 0):
            found.append(f"{command.where}: {shlex.join(attempt)}: {said.strip()}")
    return found


def _unbracket(word: str) -> str:
    """`[--set` → `--set`, `{kind,minikube}` → `kind`, `local|compose` → `local`."""
    word = word.strip("[]")
    if word.startswith("{") and word.endswith("}"):
        word = word[1:-1].split(",")[0]
    if "|" in word and not word.startswith("-"):
        word = word.split("|")[0]
    return word


def _placeholder(word: str) -> bool:
    return word in ELLIPSIS or bool(re.fullmatch(r"[A-Z][A-Z0-9_]*(=[A-Z_]+)?(\.yaml)?", word))


def _filled(sub: argparse.ArgumentParser, rest: list[str]) -> list[str]:
    """The arguments with each placeholder value replaced by one its option accepts; an
    ellipsis standing for more of the same is left out."""
    filled: list[str] = []
    previous: argparse.Action | None = None
    for word in rest:
        takes_value = previous is not None and previous.nargs != 0
        if _placeholder(word) and takes_value and previous is not None:
            filled.append(_sample(previous))
        elif word not in ELLIPSIS:
            filled.append(word)
        previous = sub._option_string_actions.get(word.split("=", 1)[0])
        if previous is None or "=" in word:
            previous = None
    return filled


def _sample(action: argparse.Action) -> str:
    if action.choices is not None:
        return str(next(iter(action.choices)))
    if action.type is int:
        return "3"
    if action.type is float:
        return "0.05"
    for candidate in ("x", "3"):  # the lab's own types (a path, a port number)
        try:
            if action.type is not None:
                action.type(candidate)  # type: ignore[operator]
        except (argparse.ArgumentTypeError, TypeError, ValueError):
            continue
        return candidate
    return "x"


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[object, str]:
    """(exit status or None when parsed, what the parser said) of parsing `argv` in-process."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            parser.parse_args(argv)
    except SystemExit as stop:
        return stop.code, out.getvalue()
    return None, out.getvalue()


def nox_sessions(noxfile: Path) -> dict[str, list[str]]:
    """Each session of `noxfile` (read, never run) with the lab command its posargs extend:
    `cpu-lab` → [cycle, --profile, cpu]; [] where it calls no `python -m lab VERB` it spells."""
    sessions: dict[str, list[str]] = {}
    for node in ast.parse(noxfile.read_text()).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if ast.unparse(target) != "nox.session":
                continue
            name = node.name
            if isinstance(decorator, ast.Call):
                for keyword in decorator.keywords:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        name = str(keyword.value.value)
            sessions[name] = _lab_call(node)
    return sessions


def _lab_call(function: ast.FunctionDef) -> list[str]:
    """The constant words after `python -m lab` in the session's last such call."""
    last: list[str] = []
    for call in ast.walk(function):
        if not isinstance(call, ast.Call) or ast.unparse(call.func) != "session.run":
            continue
        constants = []
        for arg in call.args:
            if not isinstance(arg, ast.Constant):
                break
            constants.append(str(arg.value))
        if constants[:3] == ["python", "-m", "lab"] and len(constants) > 3:
            last = constants[3:]
    return last
