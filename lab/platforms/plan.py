"""What `up` would do, as every platform's `plan` returns it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Plan:
    """What `up` would do, said as it is found and changing nothing: its steps (commands, files
    with their content hashes) and the ports it would use (taken ones already skipped)."""

    platform: str
    steps: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
