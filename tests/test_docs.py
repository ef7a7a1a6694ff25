"""Docs that cannot rot: every command they show parses with the real CLI and names only options
that exist, every `nox -s NAME` is a session of noxfile.py, every page is linked from the README,
the CLI reference is the parsers' own, and every figure in the README carries its date and commit.
Nothing here runs a session or a stack: the parsers and files are read in this process."""

from __future__ import annotations

import argparse
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest

from lab import clidoc
from lab.cli import build_parser
from tests.helpers.doccommands import (
    NOX,
    ROOT,
    Command,
    code,
    lab_commands,
    nox_commands,
    nox_sessions,
    pages,
    problems,
    verbs,
    words,
)

README = ROOT / "README.md"
SESSIONS = nox_sessions(ROOT / "noxfile.py")


def test_every_lab_command_in_the_docs_parses() -> None:
    parser = build_parser()
    commands = [command for page in pages() for command in lab_commands(page)]
    assert len(commands) > 50, "the docs' commands were not found"
    found = [problem for command in commands for problem in problems(parser, command)]
    assert not found, "\n".join(found)


def renamed(parser: argparse.ArgumentParser, verb: str, old: str, new: str) -> None:
    """Rename option `old` of `verb` to `new` in a built parser, as an edit of lab/cli.py would."""
    sub = verbs(parser)[verb]
    action = sub._option_string_actions.pop(old)
    action.option_strings = [new if flag == old else flag for flag in action.option_strings]
    sub._option_string_actions[new] = action


def test_a_renamed_option_fails_the_docs_commands() -> None:
    parser = build_parser()
    renamed(parser, "compare", "--fail-on-regression", "--fail-on-worse")
    written = Command("README.md:1", "compare RUN_A RUN_B --fail-on-regression")
    assert problems(parser, written) == ["README.md:1: compare: no option --fail-on-regression"]
    # and the real docs name it: the rename would fail test_every_lab_command_in_the_docs_parses
    in_docs = [
        command
        for page in pages()
        for command in lab_commands(page)
        if command.text.startswith("compare ") and "--fail-on-regression" in command.text
    ]
    assert in_docs and all(problems(parser, command) for command in in_docs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("upp --profile cpu", "'upp' is not a verb"),
        ("ab cpu --repeat N", "the following arguments are required: PROFILE_B"),
        ("up --platform laptop", "invalid choice: 'laptop'"),
        ("compare A B --alpha high", "invalid float value: 'high'"),
    ],
)
def test_what_the_docs_command_check_refuses(text: str, expected: str) -> None:
    found = problems(build_parser(), Command("doc.md:1", text))
    assert found and expected in found[0], found


def test_placeholders_are_filled_as_a_reader_would() -> None:
    parser = build_parser()
    for text in (
        "values --profile cpu [--platform kind|minikube|existing] [--set ...]   # YAML on stdout",
        "ab PROFILE_A PROFILE_B --repeat N [--set-a PATH=VALUE] [--metrics ...]",
        "model {tiny} [--out OUT]",
    ):
        assert problems(parser, Command("doc.md:1", text)) == []


def test_every_nox_session_the_docs_name_exists() -> None:
    assert {"lint", "fast", "tests", "cpu-lab", "compare"} <= set(SESSIONS)
    found = []
    for page in pages():
        for command in nox_commands(page):
            names = session_names(command)
            found += [f"{command.where}: nox -s {n}" for n in names if n not in SESSIONS]
    assert not found, "not sessions of noxfile.py:\n" + "\n".join(found)


def session_names(command: Command) -> list[str]:
    match = NOX.search(command.text)
    assert match, command
    return match.group(1).split()


def test_lab_arguments_after_a_sessions_double_dash_parse() -> None:
    """`nox -s cpu-lab -- --keep` hands `--keep` to `python -m lab cycle --profile cpu`."""
    parser = build_parser()
    found = []
    for page in pages():
        for command in nox_commands(page):
            name = session_names(command)[0]
            if " -- " not in command.text or not SESSIONS.get(name):
                continue
            extra = command.text.split(" -- ", 1)[1]
            if extra.strip() in ("…", "..."):
                continue  # `nox -s ab -- …`: the session's arguments, not spelled out
            whole = Command(command.where, " ".join([*SESSIONS[name], extra]))
            found += problems(parser, whole)
    assert not found, "\n".join(found)


def test_nox_alone_runs_lint_and_the_fast_tier() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    assert 'nox.options.sessions = ["lint", "fast"]' in noxfile
    assert '"not stack and not docker and not browser and not slow"' in noxfile
    # CI still runs the whole suite, the README's test command.
    assert "nox -s lint tests" in (ROOT / ".ci" / "run").read_text()


def linked(page: Path) -> set[Path]:
    """The files a page links to (relative links, anchors dropped)."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    return {
        (page.parent / target).resolve() for target in targets if not re.match(r"[a-z]+:", target)
    }


def test_every_page_under_docs_is_linked_from_the_readme() -> None:
    from_readme = linked(README)
    unlinked = [
        str(page.relative_to(ROOT))
        for page in sorted((ROOT / "docs").rglob("*.md"))
        if page.resolve() not in from_readme
    ]
    assert not unlinked, f"not linked from README.md: {unlinked}"
    for folder_readme in ("compose/README.md", "kind/README.md"):
        assert (ROOT / folder_readme).resolve() in from_readme


def test_every_relative_link_in_the_docs_resolves() -> None:
    every = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    broken = [
        f"{page.relative_to(ROOT)} → {target}"
        for page in every
        for target in linked(page)
        if not target.exists()
    ]
    assert not broken, "\n".join(broken)


def test_the_readme_is_read_in_ten_minutes() -> None:
    assert len(README.read_text().splitlines()) <= 300
    lint = [line for line in README.read_text().splitlines() if "nox -s lint" in line]
    assert lint and all("mypy" in line for line in lint)


def recipes() -> dict[str, str]:
    """{title: body} of each `###` recipe in the README's Recipes section."""
    section = README.read_text().split("\n## Recipes", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (.+)$", section, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_each_recipe_is_one_command_block_that_parses_and_says_its_cost() -> None:
    found = recipes()
    for task in ("run", "compare two runs", "a/b", "capacity", "web ui", "kubernetes"):
        assert any(task in title.lower() for title in found), f"no recipe for {task}: {found}"
    parser = build_parser()
    for title, body in found.items():
        assert body.count("```console") == 1, f"{title}: one command block"
        commands = [piece for _, piece in code(body) if piece.startswith("$ ")]
        assert len(commands) == 1, f"{title}: one command, not {commands}"
        assert re.search(r"^Costs?:", body, flags=re.M), f"{title}: what it costs"
        command = commands[0][2:]
        if command.startswith("nox -s"):
            name = command.split()[2]
            assert name in SESSIONS, title
            lab = [*SESSIONS[name], *command.split(" -- ", 1)[1:]]
            assert not problems(parser, Command(title, " ".join(lab))), title
        else:
            matched = lab_commands_in(title, command)
            assert matched and not problems(parser, matched[0]), (title, command)
    capacity = next(body for title, body in found.items() if "capacity" in title.lower())
    # one command that brings the stack up itself: not `run`, which needs one up
    assert " run " not in capacity.split("```console", 1)[1].split("```", 1)[0]


def lab_commands_in(where: str, command: str) -> list[Command]:
    for prefix in ("python -m lab ", ".nox/cpu-lab/bin/vllm-lab ", "vllm-lab "):
        if command.startswith(prefix):
            return [Command(where, command[len(prefix) :])]
    return []


def test_the_cli_reference_is_the_parsers_own() -> None:
    written = (ROOT / "docs" / "cli.md").read_text()
    assert written == clidoc.render(), (
        "docs/cli.md is stale: write it again with python -m lab.clidoc > docs/cli.md"
    )


def test_a_stale_cli_reference_is_caught() -> None:
    parser = build_parser()
    renamed(parser, "values", "--strict", "--strict-secrets")
    assert clidoc.render(parser) != (ROOT / "docs" / "cli.md").read_text()
    assert "`--strict-secrets`" in clidoc.render(parser)


# A measured figure, as the issue defines it: a time, count, rate or ratio (a share, a factor).
# Sizes (GiB of a machine) are specifications, not figures.
FIGURE = re.compile(
    r"(?<![\w.-])\d[\d,.]*\s?(?:ms|s|min|minutes?|seconds?|hours?|%|x|"
    r"req(?:uests)?/s|tokens/s|tests|runs|pairs|requests)(?![\w/])"
    r"|×\s?\d|\b\d+ of \d+\b|\b\d+:\d\d\b(?!:)"
)
DATE = re.compile(r"\b(20\d\d)-(\d\d)-(\d\d)\b")
COMMIT = re.compile(r"\bcommit `?([0-9a-f]{7,40})\b")


def readme_units(text: str) -> list[tuple[int, str]]:
    """(first line, text) of each paragraph, bullet, table row and heading outside code
    blocks, inline code taken out (option values and ports are not figures)."""
    units: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        starts = (
            not stripped
            or stripped.startswith(("- ", "* ", "|", "#"))
            or re.match(r"\d+\. ", stripped)
            or not units
            or not units[-1][1]
            or units[-1][1].lstrip().startswith(("|", "#"))
        )
        plain = re.sub(r"`[^`]*`", "", line)
        if starts:
            units.append((number, plain))
        else:
            units[-1] = (units[-1][0], units[-1][1] + " " + plain)
    return [(number, unit) for number, unit in units if unit.strip()]


def undated(text: str, known_commit=lambda sha: True) -> list[str]:
    found = []
    for number, unit in readme_units(text):
        figures = FIGURE.findall(unit)
        if not figures:
            continue
        dates = [d for d in DATE.findall(unit) if _real_date(*d)]
        commits = [c for c in COMMIT.findall(unit) if known_commit(c)]
        if not dates or not commits:
            found.append(f"README.md:{number}: {figures[0]!r} without a date and a commit")
    return found


def _real_date(year: str, month: str, day: str) -> bool:
    try:
        return date(int(year), int(month), int(day)) <= date.today()
    except ValueError:
        return False


def known_commit(sha: str) -> bool:
    """A commit of this repository; any well-formed hash where there is no git history."""
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "cat-file", "-e", f"{sha}^{{commit}}"],
            capture_output=True,
            check=False,
        )
    except OSError:
        return True
    has_history = (ROOT / ".git").exists()
    return done.returncode == 0 or not has_history


def test_every_figure_in_the_readme_carries_its_date_and_commit() -> None:
    found = undated(README.read_text(), known_commit)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("The fast tier runs 802 tests.", True),
        ("- A run takes 6 min 2 s on two cores.", True),
        ("Detection 9 of 10, measured 2026-11-29.", True),  # a date, no commit
        ("Detection 9 of 10 (commit 5820132).", True),  # a commit, no date
        ("Detection 9 of 10 (2026-11-29, 5820132).", True),  # a number is not a commit
        ("Detection 9 of 10 (2026-11-29, commit 5820132).", False),
        ("Detection 9 of 10 (2026-13-29, commit 5820132).", True),  # no such date
        ("One engine served ×4.9 more (2099-01-01, commit 5820132).", True),  # not measured yet
        ("| c1 | 3.3 req/s | 2026-11-29, commit 5820132 |", False),
        ("- 41 ms on a bullet's first line\n  (2026-11-29, commit 5820132) on its next.", False),
        ("- 41 ms on a bullet\n- and the date on the next (2026-11-29, commit 5820132).", True),
        ("Run `--repeat 3` with `--web-port 8089`.", False),  # option values are not figures
        ("```console\n$ sleep 5s\n```", False),
    ],
)
def test_the_figure_check_is_precise(text: str, bad: bool) -> None:
    assert bool(undated(text)) is bad, undated(text)


def test_docs_use_no_private_words() -> None:
    """Jargon the glossary does not define, and `here` for the authors' machine, stay out."""
    said = [
        f"{page.relative_to(ROOT)}: {word}"
        for page in [README, *sorted((ROOT / "docs").rglob("*.md"))]
        for word in ("the clause",)
        if word in page.read_text()
    ]
    assert not said, said


def test_recipes_and_quickstart_name_one_way_to_run_a_verb() -> None:
    text = README.read_text()
    assert text.count(".nox/cpu-lab/bin/vllm-lab") >= 1
    quick = text.split("\n## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "python3 -m pip install nox" in quick and "nox -s cpu-lab" in quick
    assert "report.html" in quick
    assert not [w for w in words(quick) if w == "activate"], "one way to run a verb, not two"
