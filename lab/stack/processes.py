"""Supervising the lab's own processes: start each in its own process group, log to a file,
and stop exactly what was started.

Ownership, the one rule every signal the lab sends goes through (stop, kill, send):
- a process recorded in another boot of this machine (its boot ID is not this boot's) ended
  with that boot: nothing is sent, whatever now runs with its PID or group;
- a recorded start time that is not a finite number matches no process: nothing is sent;
- the recorded process (the group's leader) is the lab's only while its PID names a process
  whose own start time is the recorded one; a PID that now names another process is reported
  and left alone, and so is its whole group;
- when the leader is gone, a member of its group is the lab's only if the record is of this
  boot, its process group is the recorded leader's PID and it started no earlier than the
  leader's recorded start (Linux does not reuse a PID that still names a live process group,
  but only within one boot). A record without a boot ID (a state written before they were
  kept) gets the strict rule: its group is reached only through its live leader.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import math
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
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
    boot_id: str | None = None  # the boot it was started in (None: recorded before they were)

    def to_json(self) -> dict:
        data = asdict(self)
        if self.boot_id is None:
            del data["boot_id"]  # unknown stays absent, as in a state from before boot IDs
        return data

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
    niceness: int = 0,
) -> Proc:
    """Start `cmd` in a new session (its own process group), output appended to `log`;
    `niceness` above 0 lowers its CPU priority (see `_yield_cpu`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = niced(cmd, niceness)
    with log.open("ab") as out:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    started = psutil.Process(child.pid).create_time()
    if niceness:
        _yield_cpu(child.pid, niceness)
    return Proc(name, child.pid, started, str(log), tuple(argv), port, meta or {}, boot_id())


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@functools.cache
def boot_id() -> str | None:
    """This boot's ID (the kernel draws a new one at every boot); None where it cannot be
    read, and then no record can be told to be of this boot."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def same_boot(proc: Proc) -> bool | None:
    """True when `proc` was recorded in this boot, False in another one; None when that cannot
    be told (no boot ID recorded, or none readable now)."""
    now = boot_id()
    if proc.boot_id is None or now is None:
        return None
    return proc.boot_id == now


def finite_start(started: object) -> bool:
    """Is `started` a start time at all? NaN compares false with everything, so a NaN start
    would pass every age test; a bool or a string is no time."""
    return (
        isinstance(started, int | float)
        and not isinstance(started, bool)
        and math.isfinite(started)
    )


def niced(cmd: Sequence[str], niceness: int) -> list[str]:
    """`cmd` as `spawn` runs it at `niceness` (a dry run's plan shows the same line)."""
    return ["nice", "-n", str(niceness), *cmd] if niceness else list(cmd)


def _yield_cpu(pid: int, niceness: int) -> None:
    """`nice` alone does not reach other sessions where Linux groups each session's CPU time
    (autogroup, on by default in many distributions): a new session is a group of its own, and
    groups share the CPU as equals whatever their threads' niceness. The group's own niceness
    does (sched(7)); a kernel without autogroup has no such file, and `nice` suffices there."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(niceness))


class Outcome(enum.Enum):
    """What a signal the lab meant to send did. True only when it was sent."""

    DONE = "done"
    NOT_RUNNING = "was not running"
    NOT_OURS = "is not the lab's any more: left alone"
    ENDED_WITH_BOOT = "ended with an earlier boot of this machine: left alone"

    def __bool__(self) -> bool:
        return self is Outcome.DONE


def said(proc: Proc, outcome: Outcome, done: str = "stopped") -> str:
    """One line for `down`, `kill_engine`, `scale`: what happened to `proc`."""
    if outcome is Outcome.DONE:
        return f"{done} {proc.name} (pid {proc.pid})"
    return f"{proc.name} (pid {proc.pid}) {outcome.value}"


# Start times are psutil's (boot time + clock ticks): the same process always reads the same.
SAME_START = 0.01


def planned_stop(proc: Proc) -> str:
    """What `stop` would do, for a dry run: a record of another boot is never signalled."""
    if same_boot(proc) is False:
        return said(proc, Outcome.ENDED_WITH_BOOT)
    return f"would stop {proc.name} (pid {proc.pid})"


def leader(proc: Proc) -> tuple[Outcome, psutil.Process | None]:
    """(DONE, the process) while the recorded process is the lab's and runs; (ENDED_WITH_BOOT,
    None) when it was recorded in another boot; (NOT_OURS, None) when its PID now names
    another process, or its start time is no finite number; (NOT_RUNNING, None) when its PID
    names none (or a zombie)."""
    if same_boot(proc) is False:
        return Outcome.ENDED_WITH_BOOT, None
    if not finite_start(proc.started):
        return Outcome.NOT_OURS, None
    try:
        candidate = psutil.Process(proc.pid)
        if abs(candidate.create_time() - proc.started) >= SAME_START:
            return Outcome.NOT_OURS, None
        if candidate.status() == psutil.STATUS_ZOMBIE:
            return Outcome.NOT_RUNNING, None
    except psutil.NoSuchProcess:
        return Outcome.NOT_RUNNING, None
    except psutil.Error:
        return Outcome.NOT_OURS, None  # there, but not ours to read: nor to signal
    return Outcome.DONE, candidate


def members(proc: Proc) -> list[psutil.Process]:
    """The live processes of `proc`'s group that are the lab's (the rule above).

    vLLM's engine core and workers share the API server's group; they survive a hard kill of
    the API server and must be stopped too.
    """
    outcome = leader(proc)[0]
    if outcome in (Outcome.NOT_OURS, Outcome.ENDED_WITH_BOOT):
        return []  # another process's PID, or another boot's: nothing in its group is the lab's
    if outcome is Outcome.NOT_RUNNING and not same_boot(proc):
        return []  # the strict rule: without a boot ID, a group only through its live leader
    found = []
    for candidate in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(candidate.pid) != proc.pid:
                continue
            if candidate.info["create_time"] + SAME_START < proc.started:
                continue  # older than our process: not ours, whatever its group
            if candidate.status() == psutil.STATUS_ZOMBIE:
                continue
        except (ProcessLookupError, psutil.Error):
            continue
        found.append(candidate)
    return found


def listens(proc: Proc, port: int) -> bool:
    """Is one of the lab's members of `proc`'s group listening on `port`? A server that answers
    on a port we chose is ours only then: another may have taken the port first."""
    for member in members(proc):
        try:
            sockets = member.net_connections(kind="inet")
        except psutil.Error:
            continue
        if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
            return True
    return False


def alive(proc: Proc) -> bool:
    """Is the process the lab started (same PID, same start time) still running?"""
    return bool(leader(proc)[0])


def stop(proc: Proc, grace: float = 10.0) -> Outcome:
    """SIGTERM the lab's members of the process group, SIGKILL what is left after `grace`
    seconds. DONE when anything was running; NOT_OURS or ENDED_WITH_BOOT (nothing sent) as
    `leader` says."""
    outcome = leader(proc)[0]
    if outcome in (Outcome.NOT_OURS, Outcome.ENDED_WITH_BOOT):
        return outcome
    group = members(proc)
    if not group:
        return Outcome.NOT_RUNNING
    for member in group:
        _signal(member, signal.SIGTERM)
    _, left = psutil.wait_procs(group, timeout=grace)
    for member in left:
        _signal(member, signal.SIGKILL)
    psutil.wait_procs(left, timeout=5)
    return Outcome.DONE


def kill(proc: Proc) -> Outcome:
    """Hard kill of the process itself only (its group is left to notice), as a crash would."""
    return send(proc, signal.SIGKILL)


def send(proc: Proc, sig: int) -> Outcome:
    """`sig` to the recorded process itself, only while it is the lab's."""
    outcome, found = leader(proc)
    if found is not None:
        _signal(found, sig)
    return outcome


def signal_member(process: psutil.Process, sig: int) -> None:
    """`sig` to one member of a group `members` found (SIGSTOP and SIGCONT of a hang fault)."""
    _signal(process, sig)


def _signal(process: psutil.Process, sig: int) -> None:
    # psutil checks the process is still the one it found (PID and start time) before sending.
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


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
