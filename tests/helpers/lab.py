"""Running the lab as a user would, and checking which of its processes are left."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psutil

from lab.stack import processes
from lab.stack.state import State


def lab_cli(
    *args: str,
    state_dir: Path,
    timeout: float = 600,
    check: bool = False,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m lab ARGS` as a user would, with its own state directory (`env` may
    override it, or anything else), from `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        cwd=cwd,
        env={**os.environ, "LAB_STATE_DIR": str(state_dir), **(env or {})},
    )


def gone(pids: list[int]) -> list[int]:
    """Of these PIDs, the ones still running (zombies count as gone)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return alive


def group_pids(current: State) -> list[int]:
    """Every PID of every process group the lab started (API servers, engine cores, workers)."""
    return [member.pid for proc in current.processes for member in processes.members(proc)]
