"""Where the stack runs. Every platform has the same small interface; one dict names them."""

from __future__ import annotations

import os
import shutil
from typing import Protocol

from lab.config.profile import Profile
from lab.errors import ConfigError
from lab.platforms.plan import Plan
from lab.stack.state import State

__all__ = ["PLATFORMS", "Plan", "Platform", "choose", "get"]

PLATFORMS = ("local", "kind", "minikube", "existing", "compose")
# Said with every choice the user did not make explicitly: `auto` builds a kind cluster on a
# workstation with Docker, kind, kubectl and helm, which must never come as a surprise.
OTHER = "another with --platform NAME or LAB_PLATFORM=NAME (" + ", ".join(PLATFORMS) + ")"


class Platform(Protocol):
    """`plan` prints and returns what `up` would do and changes nothing. A platform built with
    `dry_run` has `down` print its plan instead of acting."""

    name: str

    def check(self, profile: Profile) -> None:
        """Refuse, before anything is started, a profile or a machine this platform cannot serve;
        name each missing prerequisite and how to get it."""

    def plan(self, profile: Profile) -> Plan:
        """What `up` would do, resolved as `up` would resolve it (the model, free ports); said
        with a [dry-run] prefix and returned. Saves no state, starts nothing."""

    def up(self, profile: Profile) -> State:
        """Bring the stack up and return its state (saved as it goes) with its endpoints."""

    def health(self, state: State) -> dict[str, str]:
        """{component: condition} as the platform sees it (process running, pod phase, ...)."""

    def down(self, state: State, volumes: bool = False) -> list[str]:
        """Stop or delete only what the lab created; one line per thing, said as done. With
        `volumes`, its volumes too (a platform without any refuses)."""

    def kill_engine(self, state: State, index: int) -> str:
        """Hard-kill engine `index` as a crash would; say what was killed."""

    def restart_engine(self, state: State, index: int, profile: Profile) -> str:
        """Start engine `index` again and wait until it serves; say what was started."""

    def scale(self, state: State, replicas: int, profile: Profile) -> State:
        """Run `replicas` engines, telling the router; removed engines drain first."""


def get(name: str, dry_run: bool = False) -> Platform:
    from lab.platforms.compose.platform import ComposePlatform
    from lab.platforms.kube.existing import ExistingPlatform
    from lab.platforms.kube.kind import KindPlatform
    from lab.platforms.kube.minikube import MinikubePlatform
    from lab.platforms.local.platform import LocalPlatform

    known: dict[str, type] = {
        "local": LocalPlatform,
        "kind": KindPlatform,
        "minikube": MinikubePlatform,
        "existing": ExistingPlatform,
        "compose": ComposePlatform,
    }
    if name not in known:
        available = ", ".join(sorted(known))
        raise ConfigError(f"platform '{name}' is not available in this version (have: {available})")
    return known[name](dry_run=dry_run)


def images(name: str, profile: Profile) -> list[str]:
    """The container images (image:tag) platform `name` runs for a profile; none on local,
    where engines and router are Python packages."""
    from lab.platforms.compose.platform import stack_images
    from lab.platforms.kube import platform as kube

    if name == "compose":
        return stack_images(profile)
    return kube.images(profile) if name in ("kind", "minikube", "existing") else []


def choose(requested: str | None, profile: Profile) -> tuple[str, str]:
    """(platform, why). The flag wins, then LAB_PLATFORM, then the profile, then auto-detection:
    kind when a Docker daemon answers and kind, kubectl and helm are installed (the kit's
    intended shape on a workstation), otherwise local. A choice the user did not make says how
    to make another.
    """
    if requested:
        return _known(requested, "--platform"), "chosen with --platform"
    if env := os.environ.get("LAB_PLATFORM"):
        return _known(env, "LAB_PLATFORM"), "chosen by LAB_PLATFORM"
    if profile.platform != "auto":
        return profile.platform, f"the profile's choice ({profile.source}); {OTHER}"
    if all(shutil.which(tool) for tool in ("kind", "kubectl", "helm")) and docker_answers():
        return "kind", f"auto: Docker answers and kind, kubectl and helm are installed; {OTHER}"
    return "local", f"auto: no Docker daemon with kind, kubectl and helm on this machine; {OTHER}"


def docker_answers() -> bool:
    """Does a Docker daemon answer (DOCKER_HOST or the default socket)?"""
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
    except Exception:  # any failure means: no usable daemon
        return False
    return True


def _known(name: str, where: str) -> str:
    if name not in PLATFORMS:
        raise ConfigError(f"{where}: '{name}' is not a platform; expected one of {PLATFORMS}")
    return name
