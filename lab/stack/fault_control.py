"""The lab's side of the engines' run-time fault control (lab.inproc.engine_faults): the token
it starts them with, made when the stack comes up for a profile with a faults scenario and kept
in the state folder only (never in a results folder, a log or a command line), and the calls
that set or clear an engine's faults."""

from __future__ import annotations

import os
import secrets
from typing import Any

import httpx

from lab.config.profile import Profile
from lab.errors import StepFailed
from lab.inproc.engine_faults import PATH, TOKEN_ENV, TOKEN_HEADER
from lab.paths import state_dir

FILE = "fault-token"


def wanted(profile: Profile) -> bool:
    """Run-time faults are off unless a faults scenario asks for them."""
    return any(s.kind == "faults" for s in profile.scenarios)


def env(profile: Profile, fresh: bool) -> dict[str, str]:
    """The engines' variable that turns the control on, with this lab's token ({} when the
    profile wants no faults). `fresh` at bring-up: a new token, replacing any earlier one."""
    if not wanted(profile):
        return {}
    return {TOKEN_ENV: _new() if fresh else token()}


def _new() -> str:
    path = state_dir() / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(made)
    return made


def made() -> bool:
    """Has this lab a token (its engines came up with the control on)?"""
    return (state_dir() / FILE).exists()


def token() -> str:
    """This lab's token; StepFailed when the stack came up without one."""
    path = state_dir() / FILE
    if not path.exists():
        raise StepFailed(
            "the engines were started without run-time fault control (the profile they came up "
            "with has no faults scenario): bring the lab down and up with a faults profile"
        )
    return path.read_text().strip()


def clear_token() -> None:
    """The token goes with the lab it was made for (lab.stack.state.clear)."""
    (state_dir() / FILE).unlink(missing_ok=True)


def set_faults(url: str, settings: dict[str, Any]) -> str:
    """Tell the engine at `url` its faults ({}: none); say what it now does."""
    try:
        answer = httpx.post(
            f"{url}{PATH}", json=settings, headers={TOKEN_HEADER: token()}, timeout=10
        )
    except httpx.HTTPError as exc:
        raise StepFailed(f"{url}{PATH}: the engine's fault control did not answer: {exc}") from None
    if answer.status_code != 200:
        raise StepFailed(f"{url}{PATH}: {answer.status_code} {answer.text[:200]}")
    return ", ".join(f"{k} {v}" for k, v in answer.json().items())
