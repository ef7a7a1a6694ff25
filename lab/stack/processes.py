"""Supervising the lab's own processes: start each in its own process group, log to a file,
and stop exactly what was started (checked by PID *and* start time, so a recycled PID is
never signalled).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Proc:
    """A process the lab started, as recorded in the state file."""

    name: str
    pid: int
    started: float  # psutil create_time: identifies the process beyond its PID
    log: str
    cmd: tuple[str, ...]
    port: int = 0
    meta: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Proc:
        return cls(**{**data, "cmd": tuple(data["cmd"])})


def spawn(
    name: str,
    cmd: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    port: int = 0,
    meta: dict[str, str] | None = None,
) -> Proc:
    """Start `cmd` in a new session (its own process group), output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        child = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    started = psutil.Process(child.pid).create_time()
    return Proc(name, child.pid, started, str(log), tuple(cmd), port, meta or {})


def members(proc: Proc) -> list[psutil.Process]:
    """The live processes of `proc`'s group that were started no earlier than it.

    vLLM's engine core and workers share the API server's group; they survive a hard kill of
    the API server and must be stopped too.
    """
    found = []
    for candidate in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(candidate.pid) != proc.pid:
                continue
            if candidate.info["create_time"] + 0.01 < proc.started:
                continue  # older than our process: not ours, whatever its group
            if candidate.status() == psutil.STATUS_ZOMBIE:
                continue
        except (ProcessLookupError, psutil.Error):
            continue
        found.append(candidate)
    return found


def alive(proc: Proc) -> bool:
    """Is the process the lab started (same PID, same start time) still running?"""
    try:
        candidate = psutil.Process(proc.pid)
        return (
            abs(candidate.create_time() - proc.started) < 0.01
            and candidate.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def stop(proc: Proc, grace: float = 10.0) -> bool:
    """SIGTERM the process group, SIGKILL what is left after `grace` seconds.

    Returns whether anything was running. Touches only members() of the lab's group.
    """
    group = members(proc)
    if not group:
        return False
    for member in group:
        _signal(member, signal.SIGTERM)
    _, left = psutil.wait_procs(group, timeout=grace)
    for member in left:
        _signal(member, signal.SIGKILL)
    psutil.wait_procs(left, timeout=5)
    return True


def kill(proc: Proc) -> None:
    """Hard kill of the process itself only (its group is left to notice), as a crash would."""
    if alive(proc):
        _signal(psutil.Process(proc.pid), signal.SIGKILL)


def _signal(process: psutil.Process, sig: int) -> None:
    with contextlib.suppress(psutil.Error):  # it may have ended on its own meanwhile
        process.send_signal(sig)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int, taken: set[int] | None = None, host: str = "127.0.0.1") -> int:
    """`preferred` if free, else the next free port above it (never one in `taken`)."""
    taken = taken or set()
    for port in range(preferred, preferred + 1000):
        if port not in taken and port_free(port, host):
            return port
    raise OSError(f"no free port in {preferred}..{preferred + 999}")


def claim_port(preferred: int, taken: set[int], what: str) -> int:
    """`preferred` if free, else the next free one, said aloud: a port is never silently
    shared. The port joins `taken`."""
    from lab.console import note

    port = free_port(preferred, taken)
    taken.add(port)
    if port != preferred:
        note(f"port {preferred} is taken: {what} uses {port} instead")
    return port


def indent(text: str) -> str:
    """Text set off by four spaces, as the lab shows other programs' output."""
    return "\n".join(f"    {line}" for line in text.splitlines()) or "    (no output)"


def tail(path: str | Path, lines: int = 20) -> str:
    """The last lines of a log file ('' if there is none)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(predicate, timeout: float, interval: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
