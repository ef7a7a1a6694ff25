"""The one way platforms run external programs (helm, kubectl, kind, docker, ...).

Every command is said before it runs; a failure shows the command, its exit status and its
output, indented. With dry_run the runner records the plan (commands, files with their content
hashes) and executes nothing but read-only queries. Secrets travel in `secret_env` or `stdin`
and are never printed or recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.console import say
from lab.errors import StepFailed


@dataclass(frozen=True)
class Done:
    """What a command left: its exit status and output (empty when only planned)."""

    returncode: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class Runner:
    dry_run: bool = False
    quiet: bool = False  # queries are not said, only changes
    plan: list[str] = field(default_factory=list)

    def run(
        self,
        argv: Sequence[str],
        *,
        query: bool = False,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        secret_env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        secret_stdin: bool = False,
        timeout: float | None = 600,
    ) -> Done:
        """Run `argv` (a change, unless `query`). In a dry run only queries execute."""
        line = shlex.join(argv)
        if env:
            line = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + line
        if secret_env:
            line = " ".join(f"{k}=***" for k in secret_env) + " " + line
        if stdin is not None:
            line += " <<< (secret)" if secret_stdin else f" <<< ({len(stdin)} bytes)"
        if not query:
            self.plan.append(line)
        if self.dry_run and not query:
            say(f"[dry-run] {line}")
            return Done(0)
        if not (query and self.quiet):
            say(f"$ {line}")
        try:
            completed = subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, **(env or {}), **(secret_env or {})},
                check=False,
            )
        except FileNotFoundError:
            raise StepFailed(f"{argv[0]}: command not found (running: {line})") from None
        except subprocess.TimeoutExpired:
            raise StepFailed(f"{line}: no answer after {timeout:.0f} s") from None
        done = Done(completed.returncode, completed.stdout, completed.stderr)
        if check and done.returncode != 0:
            raise StepFailed(f"{line} exited {done.returncode}:\n{_indent(done)}")
        return done

    def write(self, path: Path, content: str) -> Path:
        """Write a file the plan needs (or, in a dry run, say what it would hold)."""
        digest = hashlib.sha256(content.encode()).hexdigest()[:12]
        line = f"write {path} (sha256 {digest}, {len(content)} bytes)"
        self.plan.append(line)
        if self.dry_run:
            say(f"[dry-run] {line}")
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return path


def json_answer(
    done: Done,
    argv: Sequence[str],
    expected: type = dict,
    valid: Callable[[Any], bool] = lambda _: True,
) -> Any:
    """A tool's answer parsed as JSON of the `expected` type (and `valid`); anything else (an
    error message, a warning, a half-written answer) is a StepFailed quoting what it said."""
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, expected) or not valid(answer):
        said = " ".join((done.stdout + done.stderr).split()) or "nothing"
        raise StepFailed(
            f"{shlex.join(argv)} answered something other than the JSON {expected.__name__} "
            f"asked for (exit {done.returncode}): {said[:300]}"
        )
    return answer


def _indent(done: Done) -> str:
    text = (done.stdout + done.stderr).strip() or "(no output)"
    return "\n".join(f"    {line}" for line in text.splitlines()[-30:])
