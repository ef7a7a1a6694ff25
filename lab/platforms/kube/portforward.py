"""`kubectl port-forward` as lab processes: started with lab.stack.processes (so they are in the
state file and `down` stops them), on a free loopback port, and waited on until they listen.
"""

from __future__ import annotations

import shlex
import socket
import time

from lab.console import bad, say
from lab.errors import StepFailed
from lab.runner import Runner
from lab.stack import processes, state
from lab.stack.processes import Proc

LISTEN_TIMEOUT = 30.0


def command(context: str, namespace: str, target: str, local: int, remote: int) -> list[str]:
    return [
        "kubectl",
        "port-forward",
        target,
        f"{local}:{remote}",
        "-n",
        namespace,
        "--address",
        "127.0.0.1",
        "--context",
        context,
    ]


def start(
    name: str,
    argv: list[str],
    port: int,
    run: Runner,
    meta: dict[str, str] | None = None,
    timeout: float = LISTEN_TIMEOUT,
) -> Proc | None:
    """Start one port-forward and wait until it listens; None in a dry run (only planned)."""
    line = shlex.join(argv) + " &"
    run.plan.append(line)
    if run.dry_run:
        say(f"[dry-run] {line}")
        return None
    say(f"$ {line}")
    proc = processes.spawn(name, argv, state.logs_dir() / f"{name}.log", port=port, meta=meta)
    deadline = time.monotonic() + timeout
    while not _listens(port):
        if not processes.alive(proc) or time.monotonic() > deadline:
            processes.stop(proc)
            bad(f"{name}: kubectl port-forward did not listen on {port}; its log:")
            say(processes.tail(proc.log, 10) or "    (empty log)")
            raise StepFailed(f"{name}: port-forward to {argv[2]} failed (log: {proc.log})")
        time.sleep(0.05)
    return proc


def stop(proc: Proc) -> str:
    return processes.said(proc, processes.stop(proc, grace=3))


def _listens(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
