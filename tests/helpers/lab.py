"""Running the lab as a user would, and checking which of its processes are left."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import itertools
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

import psutil
import pytest

from lab.cli import main
from lab.stack import processes
from lab.stack.state import State

# Test processes' port slots, 100 ports apart. Every preferred port shifts by the same 100s and
# keeps its last two digits (engines 00 up, Locust 57, the router 80, the web UI 89,
# Prometheus 90; the tests' own routers 00 and 50 in 31000-32499), so one slot's ports never
# land on another's, and all stay below 32768, where the kernel's own ports begin.
PORT_SLOTS = 20
_SLOTS_HELD: list[IO[str]] = []  # open, locked: a slot is this process's until it ends


def _lock(name: str) -> IO[str] | None:
    """The lock file `name` of the tests' ports, held exclusively until the returned file is
    closed (or its process ends); None while another test process holds it."""
    folder = Path(tempfile.gettempdir()) / "lab-test-ports"
    folder.mkdir(exist_ok=True)
    held = (folder / name).open("w")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        return None
    return held


@functools.cache
def port_shift() -> int:
    """How far this test process's preferred ports lie from the lab's defaults: 100 times a
    slot no other test process on this machine holds. The lab takes the next free port when one
    is taken, but it checks then binds: two processes starting stacks at once (pytest-xdist's
    workers, or test runs in two checkouts) that both prefer 8000 would both find it free, and
    one engine would then find another server answering on its port. Each process holds its slot
    by a lock on a file, which ends with the process. With every slot held (more than 20 test
    processes at once), the worker's number picks one, as before."""
    for slot in range(PORT_SLOTS):
        held = _lock(f"slot-{slot}")
        if held is None:
            continue
        _SLOTS_HELD.append(held)
        return 100 * slot
    return 100 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


# Blocks of loopback ports that tests take one at a time (the Kubernetes fakes' port-forwards),
# above the slots' ports; every test process counts through all of them, round and round.
BLOCKS = range(42000, 65500, 100)
_next_block = itertools.cycle(BLOCKS)


def claim_block(used: int = 100) -> tuple[int, IO[str]]:
    """A block of ports for one test: its first `used` ports free (not even in TIME_WAIT after
    an earlier test), and no other test process's at the same time, by a lock on a file that
    lasts until the returned file is closed. Without the lock every pytest-xdist worker counted
    from 42000 alike, and two tests running at once found one block free and both bound it."""
    for base in itertools.islice(_next_block, 2 * len(BLOCKS)):
        held = _lock(f"block-{base}")
        if held is None:
            continue
        if all(processes.port_free(base + offset) for offset in range(used)):
            return base, held
        held.close()
    raise RuntimeError(f"no free block of {used} ports in {BLOCKS.start}..{BLOCKS.stop - 1}")


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


def lab_main(
    *args: str, state_dir: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`lab_cli`'s run in this process: `lab.cli.main(ARGS)` as `python -m lab` calls it, with
    the same state directory, `env` and `cwd`, its output captured. A new interpreter costs a
    second or more of imports on a busy machine; keep `lab_cli` where the entry point itself is
    what a test shows."""
    out, err = io.StringIO(), io.StringIO()
    sigterm = signal.getsignal(signal.SIGTERM)  # main() sets its own; pytest's comes back
    with pytest.MonkeyPatch.context() as patch:
        if cwd is not None:
            patch.chdir(cwd)
        for key, value in {"LAB_STATE_DIR": str(state_dir), **(env or {})}.items():
            patch.setenv(key, value)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        except SystemExit as exc:  # argparse's refusals and --help, as the entry point exits
            code = int(exc.code or 0)
        finally:
            signal.signal(signal.SIGTERM, sigterm)
    return subprocess.CompletedProcess(["lab", *args], code, out.getvalue(), err.getvalue())


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
