"""The state file: what `up` started, so that `status`, `smoke` and `down` work from any shell.

One running lab per state directory (.lab/ by default, LAB_STATE_DIR to choose another).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import files
from lab.config.validation import violations
from lab.errors import ConfigError, LabError
from lab.paths import state_dir, unwritable
from lab.stack import fault_control
from lab.stack.endpoints import Endpoints
from lab.stack.processes import Proc


@dataclass
class State:
    platform: str
    profile: dict[str, Any]  # the profile as resolved (overrides and defaults applied)
    profile_source: str
    created: float = field(default_factory=time.time)
    endpoints: Endpoints | None = None
    processes: list[Proc] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # platform-specific facts

    def require_endpoints(self) -> Endpoints:
        """The endpoints of a lab that is up (a state saved while `up` runs has none yet)."""
        if self.endpoints is None:
            raise LabError(f"the lab on {self.platform} is still starting: no endpoints yet")
        return self.endpoints

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "profile": self.profile,
            "profile_source": self.profile_source,
            "created": self.created,
            "endpoints": self.endpoints.to_json() if self.endpoints else None,
            "processes": [p.to_json() for p in self.processes],
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        endpoints = data.get("endpoints")
        return cls(
            platform=data["platform"],
            profile=data["profile"],
            profile_source=data["profile_source"],
            created=data["created"],
            endpoints=Endpoints.from_json(endpoints) if endpoints else None,
            processes=[Proc.from_json(p) for p in data.get("processes", [])],
            details=data.get("details", {}),
        )


WHAT = "state file"  # how lab.files names it


def path() -> Path:
    return state_dir() / "state.json"


def logs_dir() -> Path:
    return state_dir() / "logs"


def load() -> State | None:
    """The running lab's state, or None when nothing is up. A state file this lab cannot use is
    named, with what to do, rather than obeyed."""
    file = path()
    if not file.exists():
        return None
    try:
        data = files.read_json(file, WHAT)
    except ConfigError as exc:
        why = str(exc).removeprefix(f"{file}: ").removeprefix(f"cannot read {WHAT}: ")
        raise _broken(file, f"unreadable: {why}") from None
    found = violations(data, "lab-state")
    if found:
        where, message = found[0]
        more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
        raise _broken(file, f"{where}: {message}{more}")
    try:
        return State.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise _broken(file, f"{type(exc).__name__}: {exc}") from None


def _broken(file: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{file}: not a state file this lab can use ({why}): remove it if no lab started "
        "from here still runs"
    )


def require() -> State:
    state = load()
    if state is None or state.endpoints is None:
        raise LabError("no lab is up here: start one with `python -m lab up`")
    return state


def save(state: State) -> None:
    """Write atomically: a reader never sees half a file."""
    file = writable_dir() / "state.json"
    partial = file.with_suffix(".tmp")
    try:
        partial.write_text(json.dumps(state.to_json(), indent=2))
        os.replace(partial, file)
    except OSError as exc:
        raise _unwritable(file, exc.strerror or str(exc)) from None


def clear() -> None:
    path().unlink(missing_ok=True)
    fault_control.clear_token()


def check_writable() -> None:
    """Refuse, before anything starts and writing nothing, a state folder that cannot be made
    or written."""
    directory = state_dir()
    problem = unwritable(directory)
    if problem:
        raise _unwritable(directory, problem)


def writable_dir() -> Path:
    """The state folder, made if need be; one that cannot be made is refused, naming it."""
    directory = state_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(directory, exc.strerror or str(exc)) from None
    return directory


def _unwritable(where: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{where}: cannot keep the lab's state there ({why}): set LAB_STATE_DIR to a folder "
        "you can write, or run from one"
    )


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Only one `up` or `down` at a time per state directory."""
    directory = writable_dir()
    try:
        lock = (directory / "lock").open("w")
    except OSError as exc:
        raise _unwritable(directory / "lock", exc.strerror or str(exc)) from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(
                f"another `up` or `down` is running on {directory}; wait for it to finish"
            ) from None
        yield
