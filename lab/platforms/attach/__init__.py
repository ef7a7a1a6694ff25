"""The attach platform: a stack the lab did not start (a Helm release, a router someone runs),
reached at the URLs of its `target:` block, checked and measured, never changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.platforms.attach.details import AttachDetails
from lab.platforms.protocol import Facts, Shorthand

if TYPE_CHECKING:
    from lab.platforms.protocol import Platform


def _make(dry_run: bool) -> Platform:
    from lab.platforms.attach.platform import AttachPlatform

    return AttachPlatform(dry_run=dry_run)


DECLARED = (
    Facts(
        "attach",
        _make,
        # Nothing it may change: no kill, restart, scale or router restart, and its engines
        # are not beside the load generator.
        frozenset(),
        details=AttachDetails,
        shorthands=(
            Shorthand(
                "--target",
                "target.router",
                "URL",
                "measure a stack the lab did not start, at its router's URL (--platform attach)",
                platform="attach",
            ),
        ),
        stranger="the lab did not start this stack and never changes it",
    ),
)
