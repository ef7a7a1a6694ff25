"""Faults a faults scenario injects into a local lab beyond kill and restart: a component (an
engine, Prometheus) stopped as it is, every process of its group held by SIGSTOP, and let go on
by SIGCONT: it keeps its sockets and memory but answers nothing, as a hung process does."""

from __future__ import annotations

import signal

from lab.errors import ConfigError
from lab.stack import processes
from lab.stack.state import State


def pause(current: State, name: str, paused: bool) -> str:
    """Stop (paused) or continue every process of component `name`'s group; say how many."""
    found = [p for p in current.processes if p.name == name]
    if not found:
        known = ", ".join(p.name for p in current.processes)
        raise ConfigError(f"no {name} in this lab (it has {known})")
    group = processes.members(found[0])
    sig = signal.SIGSTOP if paused else signal.SIGCONT
    for member in group:
        processes.signal_member(member, sig)
    verb = "stopped (SIGSTOP)" if paused else "continued (SIGCONT)"
    return f"{name}: {len(group)} process(es) {verb}"
