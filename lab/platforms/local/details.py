"""The local platform's part of the state file, typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.platforms.protocol import Details, drains


@dataclass(frozen=True)
class LocalDetails(Details):
    simulated: bool = False  # the engines are lab.sim, not vLLM
    phases: dict[str, float] | None = None  # seconds each phase of `up` took

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalDetails:
        return cls(drains(data), bool(data.get("simulated")), data.get("phases"))
