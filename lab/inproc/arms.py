"""The arm of each request in a side-by-side A/B (`lab ab --concurrent`, lab.load.concurrent):
one load generator, two stacks up at once, each request sent to A's router or B's.

A request that belongs to a session (a conversation of the routing scenario) goes where its
session went first, so its prefix cache and stickiness stay on one stack; any other request
is assigned on its own. Assignment is random in blocks of two (one A and one B in random
order), so the arms get the same number of sessions or requests to within one and the machine's
drift falls on both alike.

The lab sets $LAB_ARMS (JSON: {"A": router URL, "B": router URL}) for the Locust process it
starts; without it every request goes to the one --host, as before.
"""

from __future__ import annotations

import json
import os
import random

ARMS_ENV = "LAB_ARMS"


class Arms:
    def __init__(self, routers: dict[str, str], rng: random.Random | None = None) -> None:
        self.routers = routers
        self.rng = rng or random.Random()
        self.blocks: dict[str, list[str]] = {"session": [], "request": []}
        self.sessions: dict[str, str] = {}

    def choose(self, session: str = "") -> str:
        """The arm of the next request (of `session`, when it has one)."""
        if not session:
            return self._next("request")
        if session not in self.sessions:
            self.sessions[session] = self._next("session")
        return self.sessions[session]

    def url(self, arm: str, path: str) -> str:
        return f"{self.routers[arm]}{path}"

    def _next(self, kind: str) -> str:
        block = self.blocks[kind]
        if not block:
            block[:] = sorted(self.routers)
            self.rng.shuffle(block)
        return block.pop()


def from_environment() -> Arms | None:
    """The arms the lab set for this Locust process, or None (one stack, no A/B)."""
    given = os.environ.get(ARMS_ENV)
    return Arms(json.loads(given)) if given else None


def route(arms: Arms | None, path: str, session: str = "") -> tuple[str, str]:
    """(URL, arm) of a request to `path`: under --host with no arm when there is no A/B."""
    if arms is None:
        return path, ""
    arm = arms.choose(session)
    return arms.url(arm, path), arm
