"""Where the kit's files live, and where the lab keeps its state, caches and results."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def asset(*parts: str) -> Path:
    """A file of the kit (schemas/, profiles/, ...): inside a wheel, else in the checkout."""
    bundled = PACKAGE.joinpath("data", *parts)
    return bundled if bundled.exists() else CHECKOUT.joinpath(*parts)


def state_dir() -> Path:
    """Running stacks' state files and logs; LAB_STATE_DIR overrides (tests use their own)."""
    return Path(os.environ.get("LAB_STATE_DIR") or Path.cwd() / ".lab")


def cache_dir() -> Path:
    """Models the lab makes; LAB_CACHE_DIR overrides, XDG_CACHE_HOME is honoured."""
    if env := os.environ.get("LAB_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vllm-lab"
