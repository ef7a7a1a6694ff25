"""The local platform: vLLM CPU engines and vllm-router as processes on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.platforms.local.details import LocalDetails
from lab.platforms.protocol import (
    ENGINES_HERE,
    KILL,
    ONLY_PROCESSES,
    RESTART,
    RESTART_ROUTER,
    SCALE,
    SIDE_BY_SIDE,
    Facts,
)

if TYPE_CHECKING:
    from lab.platforms.protocol import Platform


def _make(dry_run: bool) -> Platform:
    from lab.platforms.local.platform import LocalPlatform

    return LocalPlatform(dry_run=dry_run)


DECLARED = (
    Facts(
        "local",
        _make,
        frozenset(
            {KILL, RESTART, SCALE, RESTART_ROUTER, ENGINES_HERE, SIDE_BY_SIDE, ONLY_PROCESSES}
        ),
        details=LocalDetails,
        router="vllm-router",
    ),
)
