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

from lab.errors import LabError
from lab.paths import state_dir
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


def path() -> Path:
    return state_dir() / "state.json"


def logs_dir() -> Path:
    return state_dir() / "logs"


def load() -> State | None:
    """The running lab's state, or None when nothing is up."""
    file = path()
    if not file.exists():
        return None
    try:
        return State.from_json(json.loads(file.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        message = f"{file}: unreadable state file ({exc}); remove it if nothing runs"
        raise LabError(message) from None


def require() -> State:
    state = load()
    if state is None or state.endpoints is None:
        raise LabError("no lab is up here: start one with `python -m lab up`")
    return state


def save(state: State) -> None:
    """Write atomically: a reader never sees half a file."""
    file = path()
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_suffix(".tmp")
    partial.write_text(json.dumps(state.to_json(), indent=2))
    os.replace(partial, file)


def clear() -> None:
    path().unlink(missing_ok=True)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Only one `up` or `down` at a time per state directory."""
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(
                f"another `up` or `down` is running on {directory}; wait for it to finish"
            ) from None
        yield
