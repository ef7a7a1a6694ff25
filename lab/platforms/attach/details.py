"""The attach platform's part of the state file: what answered at the target when `up` checked
it (the manifest records it with every run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.platforms.protocol import Details, drains


@dataclass(frozen=True)
class AttachDetails(Details):
    router: str = ""  # the router's URL
    router_kind: str = ""  # which router answered (its /metrics says)
    version: str = ""  # the server's /version, where it answers
    served: tuple[str, ...] = ()  # the models /v1/models lists

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttachDetails:
        return cls(
            drains(data),
            data.get("router", ""),
            data.get("router_kind", ""),
            data.get("version", ""),
            tuple(data.get("served", ())),
        )
