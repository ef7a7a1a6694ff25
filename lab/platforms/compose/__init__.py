"""The Compose platform: the stack as containers on one Docker host, from images the lab builds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.platforms.compose.details import ComposeDetails
from lab.platforms.protocol import (
    ENGINES_HERE,
    GRAFANA,
    IMAGES,
    KILL,
    RESTART,
    RESTART_ROUTER,
    SCALE,
    Facts,
    Hooks,
)

if TYPE_CHECKING:
    from lab.config.profile import Profile
    from lab.platforms.protocol import Platform


def _make(dry_run: bool) -> Platform:
    from lab.platforms.compose.platform import ComposePlatform

    return ComposePlatform(dry_run=dry_run)


def _images(profile: Profile) -> list[str]:
    from lab.platforms.compose.platform import stack_images

    return stack_images(profile)


def _build(names: list[str], dry_run: bool) -> None:
    from lab.platforms.compose import images

    images.build(names, dry_run=dry_run)


DECLARED = (
    Facts(
        "compose",
        _make,
        frozenset({KILL, RESTART, SCALE, RESTART_ROUTER, IMAGES, GRAFANA, ENGINES_HERE}),
        details=ComposeDetails,
        images=_images,
        hooks=Hooks(build_images=_build),
    ),
)
