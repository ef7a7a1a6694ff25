"""The Kubernetes platforms (kind, Minikube, an existing cluster) and their helpers: the
Kubernetes API, pod readiness, port-forwards, GPUs, prerequisites, teardown, Locust worker pods
and `monitor`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lab.platforms.kube.details import KubeDetails, planned
from lab.platforms.protocol import (
    CLUSTER_WORKERS,
    ENGINES_HERE,
    GRAFANA,
    HELM,
    KILL,
    MONITORING,
    RESTART,
    ROUTER_UNDER_LOAD,
    SCALE,
    Facts,
    Hooks,
)

if TYPE_CHECKING:
    from lab.config.profile import Profile
    from lab.platforms.protocol import Platform, RemoteWorkers
    from lab.runner import Runner
    from lab.stack.state import State


def _kind(dry_run: bool) -> Platform:
    from lab.platforms.kube.kind import KindPlatform

    return KindPlatform(dry_run=dry_run)


def _minikube(dry_run: bool) -> Platform:
    from lab.platforms.kube.minikube import MinikubePlatform

    return MinikubePlatform(dry_run=dry_run)


def _existing(dry_run: bool) -> Platform:
    from lab.platforms.kube.existing import ExistingPlatform

    return ExistingPlatform(dry_run=dry_run)


def _images(profile: Profile) -> list[str]:
    from lab.platforms.kube import platform

    return platform.images(profile)


def _worker_problems(profile: Profile, name: str) -> list[str]:
    from lab.platforms.kube import loadgen

    return loadgen.problems(profile, name)


def _workers(
    profile: Profile, current: State, run: Runner | None, placeholder: str
) -> RemoteWorkers:
    from lab.platforms.kube import loadgen

    return loadgen.workers(profile, current, run, placeholder)


def _monitor(current: State, port_forward: bool, ports: dict[str, int] | None) -> None:
    from lab.platforms.kube import monitor

    monitor.show(current, port_forward, ports)


def _rollout_router(current: State) -> str:
    from lab.platforms.kube import engines
    from lab.runner import Runner

    return engines.rollout_router(current, Runner())


# Its engines run the chart's image, without the lab's middleware, so slow and errors cannot
# be set; hang and Prometheus down are not injected there either (lab.load.faults refuses them).
MEANS = (
    ("kill", "pod delete with no grace period; its Deployment starts another"),
    ("router_restart", "kubectl rollout restart of the router's Deployment"),
)
HOOKS = Hooks(
    worker_problems=_worker_problems,
    workers=_workers,
    monitor=_monitor,
    restart_router_now=_rollout_router,
    fault_means=MEANS,
)
KUBE = frozenset(
    {KILL, RESTART, SCALE, CLUSTER_WORKERS, MONITORING, GRAFANA, HELM, ROUTER_UNDER_LOAD}
)


def _declare(name: str, make: Callable[[bool], Platform], here: bool) -> Facts:
    capabilities = KUBE | {ENGINES_HERE} if here else KUBE
    return Facts(name, make, capabilities, KubeDetails, planned, _images, hooks=HOOKS)


DECLARED = (
    _declare("kind", _kind, here=True),
    _declare("minikube", _minikube, here=True),
    _declare("existing", _existing, here=False),  # a cluster elsewhere runs its own engines
)
