"""Process supervision with real (tiny) processes: groups, identity, ports."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from lab.stack import processes
from tests.helpers.lab import port_shift

# A parent that starts a child in its own group and then sleeps: like vLLM's API server and
# its engine core.
FAMILY = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "time.sleep(600)\n"
)


def family(tmp_path, code: str = FAMILY) -> processes.Proc:
    proc = processes.spawn("family", [sys.executable, "-c", code], tmp_path / "family.log")
    assert processes.wait_until(lambda: len(processes.members(proc)) == 2, timeout=10)
    return proc


def pair(tmp_path) -> processes.Proc:
    """The same shape as `family` (a leader and a child in its group), from a shell: quicker
    to start and to stop."""
    proc = processes.spawn("pair", ["sh", "-c", "sleep 600 & exec sleep 600"], tmp_path / "p.log")
    assert processes.wait_until(
        lambda: len(processes.members(proc)) == 2, timeout=10, interval=0.05
    )
    return proc


def test_stop_ends_the_whole_group(tmp_path) -> None:
    proc = family(tmp_path)
    pids = [p.pid for p in processes.members(proc)]
    assert processes.stop(proc, grace=5)
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids
    )
    assert not processes.alive(proc)


def test_stop_reaches_children_left_behind_by_a_killed_leader(tmp_path) -> None:
    proc = family(tmp_path)
    child = next(p for p in processes.members(proc) if p.pid != proc.pid)
    processes.kill(proc)
    assert processes.wait_until(lambda: not processes.alive(proc), timeout=5)
    assert child.is_running()
    assert processes.stop(proc, grace=5)
    assert processes.wait_until(lambda: not child.is_running() or child.status() == "zombie", 5)


def test_a_process_with_the_recorded_pid_but_another_start_time_is_not_touched(tmp_path) -> None:
    stranger = psutil.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        impostor = processes.Proc(
            name="engine-0",
            pid=stranger.pid,
            started=stranger.create_time() - 100,  # recorded for an older process of that PID
            log=str(tmp_path / "x.log"),
            cmd=("x",),
        )
        assert not processes.alive(impostor)
        assert not processes.stop(impostor)
        processes.kill(impostor)
        time.sleep(0.2)
        assert stranger.is_running()
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_of_something_already_gone_says_so(tmp_path) -> None:
    proc = processes.spawn("quick", [sys.executable, "-c", "pass"], tmp_path / "q.log")
    assert processes.wait_until(lambda: not processes.alive(proc), timeout=10)
    assert processes.stop(proc) is processes.Outcome.NOT_RUNNING


def test_output_goes_to_the_log(tmp_path) -> None:
    log = tmp_path / "talk.log"
    proc = processes.spawn("talk", [sys.executable, "-c", "print('hello from the log')"], log)
    processes.wait_until(lambda: not processes.alive(proc), timeout=10)
    assert processes.tail(log) == "hello from the log"


def test_secrets_in_env_are_not_in_the_record(tmp_path) -> None:
    proc = processes.spawn(
        "env", [sys.executable, "-c", "pass"], tmp_path / "e.log", env={"VLLM_API_KEY": "sk-x"}
    )
    assert "sk-x" not in repr(proc.to_json())


def test_free_port_skips_taken_ports() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not processes.port_free(port)
        chosen = processes.free_port(port)
        assert chosen > port
        assert processes.free_port(port, taken={chosen}) != chosen


@pytest.mark.parametrize("lines", [1, 3])
def test_tail_returns_the_last_lines(tmp_path, lines: int) -> None:
    log = tmp_path / "l.log"
    log.write_text("\n".join(f"line {i}" for i in range(10)))
    assert processes.tail(log, lines).splitlines() == [f"line {i}" for i in range(10 - lines, 10)]


# A process that ignores SIGTERM, as a stubborn stranger (or a wedged engine) would.
STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.fixture(params=["plain", "ignores SIGTERM"])
def stranger(request):
    """A process the lab did not start, in a process group of its own (as a shell job is)."""
    code = "import time; time.sleep(600)" if request.param == "plain" else STUBBORN
    process = psutil.Popen(
        [sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE
    )
    if request.param != "plain":
        process.stdout.readline()
    yield process
    process.kill()
    process.wait()


def recorded_as_ours(stranger: psutil.Popen, name: str = "engine-0") -> processes.Proc:
    """The stranger's PID in a state file, recorded for an older process of that PID."""
    return processes.Proc(name, stranger.pid, stranger.create_time() - 100, "x.log", ("x",))


def test_a_recycled_pid_is_reported_and_its_group_left_alone(stranger) -> None:
    proc = recorded_as_ours(stranger)
    assert processes.members(proc) == []  # its group is the stranger's: nothing in it is ours
    assert processes.stop(proc, grace=1) is processes.Outcome.NOT_OURS
    assert processes.kill(proc) is processes.Outcome.NOT_OURS
    assert processes.send(proc, signal.SIGHUP) is processes.Outcome.NOT_OURS
    said = processes.said(proc, processes.stop(proc, grace=1))
    assert said == f"engine-0 (pid {stranger.pid}) is not the lab's any more: left alone"
    time.sleep(0.2)
    assert stranger.is_running() and stranger.status() != psutil.STATUS_ZOMBIE


def test_with_the_leader_gone_only_younger_members_of_its_group_are_ours(tmp_path) -> None:
    proc = family(tmp_path)
    child = next(p for p in processes.members(proc) if p.pid != proc.pid)
    processes.kill(proc)
    os.waitpid(proc.pid, 0)  # reaped: the leader's PID names no process any more
    # Recorded as started after the child: the child is older than the lab's leader, not ours.
    later = dataclasses.replace(proc, started=child.create_time() + 5)
    assert processes.members(later) == []
    assert processes.stop(later, grace=1) is processes.Outcome.NOT_RUNNING
    assert child.is_running()
    assert processes.stop(proc, grace=5) is processes.Outcome.DONE
    assert processes.wait_until(lambda: not child.is_running() or child.status() == "zombie", 5)


def test_the_labs_own_process_that_ignores_sigterm_is_killed_after_the_grace(tmp_path) -> None:
    proc = processes.spawn("stubborn", [sys.executable, "-c", STUBBORN], tmp_path / "s.log")
    assert processes.wait_until(lambda: processes.tail(proc.log) == "ready", timeout=10)
    began = time.monotonic()
    assert processes.stop(proc, grace=1) is processes.Outcome.DONE
    assert 1 <= time.monotonic() - began < 8
    assert not processes.alive(proc)


def test_a_port_is_ours_only_while_our_own_process_listens_on_it(tmp_path) -> None:
    """An engine's port can be taken by another server between choosing it and binding it: an
    answer on the port proves nothing until our own process is the one listening."""
    ours_port, theirs_port = (
        processes.free_port(41000 + port_shift()),
        processes.free_port(42000 + port_shift()),
    )
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
    ours = processes.spawn("web", [*server, str(ours_port)], tmp_path / "web.log")
    stranger = subprocess.Popen([*server, str(theirs_port)], stderr=subprocess.DEVNULL)
    try:
        assert processes.wait_until(lambda: processes.listens(ours, ours_port), timeout=10)
        assert processes.wait_until(lambda: not processes.port_free(theirs_port), timeout=10)
        assert not processes.listens(ours, theirs_port)
    finally:
        processes.stop(ours, grace=5)
        stranger.terminate()
        stranger.wait(timeout=10)


# --- ownership across boots, and start times that are no time ---------------------------------

OTHER_BOOT = "0badb007-0000-4000-8000-000000000000"


@pytest.fixture
def orphaned_group():
    """A stranger's process group whose leader has exited while a member lives on: the group's
    ID is a PID that names no process, as an engine group's recorded PID can after a reboot.
    (A shell without job control keeps its background job in its own group.)"""
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 600 >/dev/null & echo $!"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    member = psutil.Process(int(shell.stdout.readline()))
    shell.stdout.close()
    shell.wait()  # reaped: the group's ID names no process any more
    assert os.getpgid(member.pid) == shell.pid and not psutil.pid_exists(shell.pid)
    yield shell.pid, member
    member.kill()


def recorded(pid: int, started: float, boot: str | None) -> processes.Proc:
    return processes.Proc("engine-0", pid, started, "x.log", ("x",), boot_id=boot)


def left_alone(member: psutil.Process) -> bool:
    time.sleep(0.2)  # a signal sent would have landed by now
    return member.is_running() and member.status() != psutil.STATUS_ZOMBIE


def test_a_record_from_another_boot_leaves_a_strangers_group_alone(orphaned_group) -> None:
    pgid, member = orphaned_group
    this_boot = recorded(pgid, member.create_time() - 1, processes.boot_id())
    assert processes.boot_id() and processes.members(this_boot) == [member]  # the rule in a boot
    other = dataclasses.replace(this_boot, boot_id=OTHER_BOOT)
    assert processes.members(other) == []
    assert processes.stop(other, grace=1) is processes.Outcome.ENDED_WITH_BOOT
    assert processes.kill(other) is processes.Outcome.ENDED_WITH_BOOT
    assert not processes.alive(other) and not processes.listens(other, 1)
    assert processes.said(other, processes.Outcome.ENDED_WITH_BOOT) == (
        f"engine-0 (pid {pgid}) ended with an earlier boot of this machine: left alone"
    )
    assert left_alone(member)


def test_a_record_from_another_boot_leaves_even_a_matching_live_process_alone() -> None:
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        found = psutil.Process(stranger.pid)
        other = recorded(stranger.pid, found.create_time(), OTHER_BOOT)
        assert processes.send(other, signal.SIGTERM) is processes.Outcome.ENDED_WITH_BOOT
        assert processes.stop(other, grace=1) is processes.Outcome.ENDED_WITH_BOOT
        assert left_alone(found)
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize("started", [math.nan, math.inf, -math.inf, "1700000000", True])
def test_a_start_time_that_is_no_finite_number_leaves_strangers_alone(
    orphaned_group, started
) -> None:
    """NaN compares false with everything: before this rule it passed both the leader's
    start-time test and the members' age test."""
    pgid, member = orphaned_group
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        live = psutil.Process(stranger.pid)
        for pid in (pgid, stranger.pid):
            proc = processes.Proc.from_json(
                recorded(pid, 0.0, processes.boot_id()).to_json() | {"started": started}
            )
            assert processes.members(proc) == []
            assert processes.stop(proc, grace=1) is processes.Outcome.NOT_OURS
            assert processes.kill(proc) is processes.Outcome.NOT_OURS
        assert left_alone(member) and left_alone(live)
    finally:
        stranger.kill()
        stranger.wait()


def test_a_record_without_a_boot_id_reaches_a_group_only_through_its_live_leader(
    orphaned_group, tmp_path
) -> None:
    pgid, member = orphaned_group
    old = recorded(pgid, member.create_time() - 1, None)  # a state from before boot IDs
    assert processes.members(old) == []
    assert processes.stop(old, grace=1) is processes.Outcome.NOT_RUNNING
    assert left_alone(member)
    # With its leader alive and of the recorded start, the whole group is still the lab's.
    ours = dataclasses.replace(pair(tmp_path), boot_id=None)
    group = processes.members(ours)
    assert len(group) == 2
    assert processes.stop(ours, grace=5) is processes.Outcome.DONE
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in group)
