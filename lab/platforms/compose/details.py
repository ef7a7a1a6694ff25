"""The Compose platform's part of the state file, typed (the state schema checks it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.platforms.protocol import Details, drains
from lab.stack.state import State


@dataclass(frozen=True)
class ComposeDetails(Details):
    command: tuple[str, ...] = ()  # the Compose command line, project and files included
    replicas: int = 0
    ports: dict[str, Any] = field(default_factory=dict)  # host ports: router, engines, ...
    phases: dict[str, float] | None = None  # seconds each phase of `up` took
    override: str = ""  # the lab's Compose file, beside the base file
    prometheus_config: str = ""  # Prometheus' scrape configuration

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComposeDetails:
        compose = data.get("compose") or {}  # absent while `up` is still starting
        return cls(
            drains(data),
            tuple(compose.get("command", ())),
            compose.get("replicas", 0),
            compose.get("ports", {}),
            data.get("phases"),
            compose.get("override", ""),
            compose.get("prometheus_config", ""),
        )


def compose_details(current: State) -> ComposeDetails:
    """The state's Compose details, typed. Read only: what changes them (`up`, scaling, the
    router's new settings) writes the state's own record."""
    return ComposeDetails.from_json(current.details)
