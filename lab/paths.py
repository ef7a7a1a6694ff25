"""Where the kit's files live, and where the lab keeps its state, caches and results."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from lab.errors import ConfigError

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def asset(*parts: str) -> Path:
    """A file of the kit (schemas/, profiles/, ...): inside a wheel, else in the checkout."""
    bundled = PACKAGE.joinpath("data", *parts)
    return bundled if bundled.exists() else CHECKOUT.joinpath(*parts)


def state_dir() -> Path:
    """Running stacks' state files and logs; LAB_STATE_DIR overrides (tests use their own).
    Something there that is not a folder is refused, naming it."""
    directory = Path(os.environ.get("LAB_STATE_DIR") or Path.cwd() / ".lab")
    if problem := unusable_name(str(directory)):
        raise ConfigError(f"LAB_STATE_DIR: {problem}")
    if directory.exists() and not directory.is_dir():
        chosen = "LAB_STATE_DIR" if os.environ.get("LAB_STATE_DIR") else "the lab's state folder"
        raise ConfigError(
            f"{directory}: {chosen} is not a folder: point LAB_STATE_DIR at a folder "
            "(or remove the file if nothing of a lab is in it)"
        )
    return directory


def cache_dir() -> Path:
    """Models the lab makes; LAB_CACHE_DIR overrides, XDG_CACHE_HOME is honoured."""
    if env := os.environ.get("LAB_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vllm-lab"


def unwritable(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (made if need be), or None when they can.
    Nothing is left behind: the nearest folder that exists is tried with a probe, removed."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".lab-probe-", dir=existing))
    except OSError as exc:
        return f"cannot write in {existing} ({exc.strerror or exc})"
    return None


def unusable_name(text: str) -> str | None:
    """Why the operating system would refuse `text` as a path (a name or the whole too long),
    or None; checked where a path enters the lab, so that no file call fails on it later."""
    name_max, path_max = os.pathconf("/", "PC_NAME_MAX"), os.pathconf("/", "PC_PATH_MAX")
    for part in Path(text).parts:
        if len(os.fsencode(part)) > name_max:
            return f"'{part[:40]}…' is longer than a file name may be ({name_max} bytes)"
    if len(os.fsencode(text)) >= path_max:
        return f"'{text[:40]}…' is longer than a path may be ({path_max} bytes)"
    return None


NAME_PART = 80  # characters of a file-name part made from a name read from a file


def safe_name(text: str, limit: int = NAME_PART) -> str:
    """`text`, a name read from a file's contents (a manifest's profile_name), as one plain
    part of a file name: letters, digits, '.', '_' and '-' kept, any run of other characters
    (a '/', a NUL byte, a control character) made one '-', at most `limit` characters, and no
    leading '.' or '-'. So a name can neither leave the folder it is put in (`..`, `/`), nor
    hide the file, nor be too long for the file system; 'unnamed' when nothing is left."""
    part = re.sub(r"[^A-Za-z0-9._-]+", "-", text[: limit * 4])[:limit].strip(".-")
    return part or "unnamed"
