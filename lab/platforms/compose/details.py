"""The Compose platform's part of the state file, typed (the state schema checks it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.platforms.protocol import Details, drains


@dataclass(frozen=True)
class ComposeDetails(Details):
    command: tuple[str, ...] = ()  # the Compose command line, project and files included
    replicas: int = 0
    ports: dict[str, Any] = field(default_factory=dict)  # host ports: router, engines, ...
    phases: dict[str, float] | None = None  # seconds each phase of `up` took

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComposeDetails:
        compose = data.get("compose") or {}  # absent while `up` is still starting
        return cls(
            drains(data),
            tuple(compose.get("command", ())),
            compose.get("replicas", 0),
            compose.get("ports", {}),
            data.get("phases"),
        )
