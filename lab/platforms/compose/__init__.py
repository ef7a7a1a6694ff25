"""The Compose platform: the stack as containers on one Docker host, from images the lab builds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.platforms.compose.details import ComposeDetails
from lab.platforms.protocol import (
    ENGINE_FAULTS,
    ENGINES_HERE,
    GRAFANA,
    HANG,
    IMAGES,
    KILL,
    PROMETHEUS_DOWN,
    RESTART,
    RESTART_ROUTER,
    ROUTER_UNDER_LOAD,
    SCALE,
    Facts,
    Hooks,
)

if TYPE_CHECKING:
    from lab.config.profile import Profile
    from lab.platforms.protocol import Platform
    from lab.stack.state import State


def _make(dry_run: bool) -> Platform:
    from lab.platforms.compose.platform import ComposePlatform

    return ComposePlatform(dry_run=dry_run)


def _images(profile: Profile) -> list[str]:
    from lab.platforms.compose.platform import stack_images

    return stack_images(profile)


def _build(names: list[str], dry_run: bool) -> None:
    from lab.platforms.compose import images

    images.build(names, dry_run=dry_run)


def _pause(current: State, service: str, paused: bool) -> str:
    from lab.platforms.compose.platform import ComposePlatform

    return ComposePlatform().pause(current, service, paused)


MEANS = (
    ("kill", "docker kill of the engine's container, started again after `for`"),
    ("hang", "docker pause of the engine's container, docker unpause after `for`"),
    ("slow", "the engine middleware's first-chunk delay, set at run time (127.0.0.1 only)"),
    ("errors", "the engine middleware's HTTP 500s or cut streams, set at run time"),
    ("router_restart", "the router's container started again"),
    ("prometheus_down", "docker pause of the Prometheus container, unpause after `for`"),
)

DECLARED = (
    Facts(
        "compose",
        _make,
        frozenset({KILL, RESTART, SCALE, RESTART_ROUTER, IMAGES, GRAFANA, ENGINES_HERE})
        | {HANG, ENGINE_FAULTS, ROUTER_UNDER_LOAD, PROMETHEUS_DOWN},
        details=ComposeDetails,
        images=_images,
        hooks=Hooks(build_images=_build, pause=_pause, fault_means=MEANS),
    ),
)
