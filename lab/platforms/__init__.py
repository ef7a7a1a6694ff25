"""Where the stack runs. Every platform has the same small interface, and one registry holds
what each declares about itself (lab.platforms.protocol): the rest of the lab asks it, never
compares platform names. Adding a platform: its package, one entry in DECLARED, and the
schemas' enums (docs/architecture.md, "Adding a platform")."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from lab.errors import ConfigError
from lab.platforms import attach, compose, kube, local
from lab.platforms.plan import Plan
from lab.platforms.protocol import (
    CLUSTER_WORKERS,
    IMAGES,
    Details,
    Facts,
    Platform,
    RemoteWorkers,
    Shorthand,
)

if TYPE_CHECKING:
    from lab.config.profile import Profile
    from lab.runner import Runner
    from lab.stack.state import State

__all__ = [
    "PLATFORMS",
    "Facts",
    "Plan",
    "Platform",
    "RemoteWorkers",
    "can",
    "choose",
    "facts",
    "get",
    "named",
]

# The registry: each platform package declares its platforms; the order is the one the lab
# lists them in.
DECLARED: tuple[Facts, ...] = (
    *local.DECLARED,
    *kube.DECLARED,
    *compose.DECLARED,
    *attach.DECLARED,
)
REGISTRY = {entry.name: entry for entry in DECLARED}
PLATFORMS = tuple(REGISTRY)
# Said with every choice the user did not make explicitly: `auto` builds a kind cluster on a
# workstation with Docker, kind, kubectl and helm, which must never come as a surprise.
OTHER = "another with --platform NAME or LAB_PLATFORM=NAME (" + ", ".join(PLATFORMS) + ")"
# What `auto` picks: the kit's intended shape on a workstation, else what runs anywhere.
AUTO_CLUSTER = "kind"
AUTO_FALLBACK = "local"


def facts(name: str) -> Facts:
    """What platform `name` declares; a name the registry does not hold is refused."""
    if name not in REGISTRY:
        available = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"platform '{name}' is not available in this version (have: {available})")
    return REGISTRY[name]


def get(name: str, dry_run: bool = False) -> Platform:
    return facts(name).make(dry_run)


def can(name: str, capability: str) -> bool:
    """Does platform `name` declare `capability` (lab.platforms.protocol)?"""
    return capability in facts(name).capabilities


def named(capability: str) -> tuple[str, ...]:
    """The platforms that declare `capability`, in the registry's order."""
    return tuple(entry.name for entry in DECLARED if capability in entry.capabilities)


def cannot(name: str, capability: str, what: str) -> str:
    """Why platform `name` refuses `what` (it lacks `capability`), naming those that can."""
    why = facts(name).stranger
    able = said(named(capability))
    return (
        f"the {name} platform cannot {what}"
        + (f": {why}" if why else "")
        + (f"; {able} can" if able else "")
    )


def said(names: tuple[str, ...], last: str = "or") -> str:
    """'a, b or c': platform names as a sentence says them."""
    return f"{', '.join(names[:-1])} {last} {names[-1]}" if len(names) > 1 else "".join(names)


def details(state: State) -> Details:
    """The state's platform details, typed by the platform that wrote them."""
    return facts(state.platform).details.from_json(state.details)


def images(name: str, profile: Profile) -> list[str]:
    """The container images (image:tag) platform `name` runs for a profile; none where engines
    and router are Python packages."""
    return facts(name).images(profile)


def shorthands() -> list[Shorthand]:
    """The command-line options every platform adds, for the verbs that read a profile."""
    return [option for entry in DECLARED for option in entry.shorthands]


def worker_problems(profile: Profile, name: str) -> list[str]:
    """What keeps the profile's cluster workers from running on platform `name`, said before
    anything starts."""
    if profile.load.workers != "cluster":
        return []
    hook = facts(name).hooks.worker_problems
    if hook is None:
        return [f"{profile.source}: load.workers: cluster workers run as pods, on "
                f"{said(named(CLUSTER_WORKERS))}, not on {name}; expected local"]  # fmt: skip
    return hook(profile, name)


def cluster_workers(
    profile: Profile, state: State, run: Runner | None = None, placeholder: str = ""
) -> RemoteWorkers | None:
    """The profile's Locust workers as pods on the lab that is up, or None when they run here.
    With a `placeholder`, a dry run that cannot ask where this machine is says it instead."""
    if profile.load.workers != "cluster":
        return None
    if found := worker_problems(profile, state.platform):
        raise ConfigError(found)
    hook = facts(state.platform).hooks.workers
    assert hook is not None  # worker_problems refuses a platform without them
    return hook(profile, state, run, placeholder)


def monitor(state: State, port_forward: bool, ports: dict[str, int] | None) -> bool:
    """Show the platform's own Prometheus and Grafana (MONITORING); False when it has no way of
    its own (no MONITORING) and the endpoints say it all."""
    hook = facts(state.platform).hooks.monitor
    if hook is None:
        return False
    hook(state, port_forward, ports)
    return True


def build_images(names: list[str], dry_run: bool) -> None:
    """`images build`: the lab's own images, built by the platform that declares IMAGES."""
    for entry in DECLARED:
        if IMAGES in entry.capabilities and entry.hooks.build_images is not None:
            entry.hooks.build_images(names, dry_run)
            return


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
        return (
            AUTO_CLUSTER,
            f"auto: Docker answers and kind, kubectl and helm are installed; {OTHER}",
        )
    return (
        AUTO_FALLBACK,
        f"auto: no Docker daemon with kind, kubectl and helm on this machine; {OTHER}",
    )


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
