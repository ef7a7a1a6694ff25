"""The local platform: vLLM CPU engines and vllm-router as processes on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.platforms.local.details import LocalDetails
from lab.platforms.protocol import (
    ENGINE_FAULTS,
    ENGINES_HERE,
    HANG,
    KILL,
    ONLY_PROCESSES,
    PROMETHEUS_DOWN,
    RESTART,
    RESTART_ROUTER,
    ROUTER_UNDER_LOAD,
    SCALE,
    SIDE_BY_SIDE,
    Facts,
    Hooks,
)

if TYPE_CHECKING:
    from lab.platforms.protocol import Platform
    from lab.stack.state import State


def _make(dry_run: bool) -> Platform:
    from lab.platforms.local.platform import LocalPlatform

    return LocalPlatform(dry_run=dry_run)


def _pause(current: State, name: str, paused: bool) -> str:
    from lab.platforms.local import faults

    return faults.pause(current, name, paused)


FAULTS = frozenset({HANG, ENGINE_FAULTS, ROUTER_UNDER_LOAD, PROMETHEUS_DOWN})
MEANS = (
    ("kill", "SIGKILL of the engine's server, started again after `for`"),
    ("hang", "SIGSTOP of the engine's process group, SIGCONT after `for`"),
    ("slow", "the engine middleware's first-chunk delay, set at run time"),
    ("errors", "the engine middleware's HTTP 500s or cut streams, set at run time"),
    ("router_restart", "vllm-router stopped and started again on its port"),
    ("prometheus_down", "SIGSTOP of Prometheus, SIGCONT after `for`"),
)

DECLARED = (
    Facts(
        "local",
        _make,
        frozenset(
            {KILL, RESTART, SCALE, RESTART_ROUTER, ENGINES_HERE, SIDE_BY_SIDE, ONLY_PROCESSES}
        )
        | FAULTS,
        details=LocalDetails,
        router="vllm-router",
        hooks=Hooks(pause=_pause, fault_means=MEANS),
    ),
)
