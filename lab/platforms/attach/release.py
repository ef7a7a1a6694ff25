"""A production-stack release on Kubernetes, found through the Kubernetes API by the chart's
standard labels (app.kubernetes.io/instance = the release; component router or
serving-engine) and reached through port-forwards: its router Service, and each ready engine
pod on its own (behind one Service, replicas could not be told apart). Only reads (list
Services and Pods); a port-forward is the one call that is not one, and the only process
attach starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.errors import StepFailed
from lab.platforms.kube import portforward, readiness
from lab.platforms.kube.api import Api
from lab.runner import Runner
from lab.stack import processes
from lab.stack.processes import Proc

INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
ENGINE_PORT = 8000  # the chart's container port when a pod names none
# Where the forwards listen here, unless taken (as the Kubernetes platforms forward).
PORTS = {"router": 30080, "engine": 8000}


@dataclass(frozen=True)
class Forward:
    name: str  # the lab process: forward-router, forward-engine-0, ...
    to: str  # svc/NAME or pod/NAME
    remote: int
    meta: dict[str, str]


@dataclass(frozen=True)
class Release:
    context: str
    namespace: str
    name: str
    router: Forward
    engines: tuple[Forward, ...]

    @property
    def forwards(self) -> tuple[Forward, ...]:
        return (self.router, *self.engines)


def selector(release: str, component: str) -> str:
    return f"{INSTANCE}={release},{COMPONENT}={component}"


def reads(namespace: str, release: str) -> list[str]:
    """The API calls `find` makes, as a dry run shows them (all GET)."""
    base = f"/api/v1/namespaces/{namespace}"
    return [
        f"GET {base}/services?labelSelector={selector(release, 'router')}",
        f"GET {base}/pods?labelSelector={selector(release, 'serving-engine')}",
    ]


def find(api: Api, namespace: str, release: str) -> Release:
    """The release's router Service and its ready engine pods; StepFailed (exit 1) when the
    release is not there."""
    where = f"in namespace {namespace} of kube context {api.context}"
    services = api.services(namespace, selector(release, "router"))
    if not services:
        raise StepFailed(
            f"release {release} not found {where}: no Service labelled "
            f"{selector(release, 'router')} (helm list -n {namespace} lists the releases; set "
            "kubernetes.release and kubernetes.namespace)"
        )
    service = sorted(services, key=readiness.name)[0]
    ports = service.get("spec", {}).get("ports", [])
    router = Forward(
        "forward-router",
        f"svc/{readiness.name(service)}",
        int(ports[0]["port"]) if ports else 80,
        {"component": "router"},
    )
    pods = api.pods(namespace, selector(release, "serving-engine"))
    ready = sorted(
        (p for p in pods if readiness.is_ready(p) and not readiness.terminating(p)),
        key=readiness.name,
    )
    if not ready:
        raise StepFailed(
            f"release {release} {where} has no ready serving-engine pod ({len(pods)} found)"
        )
    engines = tuple(
        Forward(
            f"forward-engine-{i}",
            f"pod/{readiness.name(p)}",
            _container_port(p),
            {"engine": f"engine-{i}", "pod": readiness.name(p)},
        )
        for i, p in enumerate(ready)
    )
    return Release(api.context, namespace, release, router, engines)


def _container_port(pod: dict[str, Any]) -> int:
    for container in pod.get("spec", {}).get("containers", []):
        for port in container.get("ports", []):
            if port.get("containerPort"):
                return int(port["containerPort"])
    return ENGINE_PORT


def local_ports(
    release: Release, dry_run: bool, taken: set[int], usual: dict[str, int]
) -> list[int]:
    """A free loopback port for each forward, the router's first, from the `usual` ones on (a
    dry run shows the usual ones: nothing listens then)."""
    chosen = []
    for index, forward in enumerate(release.forwards):
        preferred = usual["router"] if index == 0 else usual["engine"] + index - 1
        chosen.append(
            preferred if dry_run else processes.claim_port(preferred, taken, forward.name)
        )
    return chosen


def command(release: Release, forward: Forward, port: int) -> list[str]:
    return portforward.command(release.context, release.namespace, forward.to, port, forward.remote)


def start(release: Release, ports: list[int], run: Runner) -> list[Proc]:
    """Every forward, each waited on until it listens; on a failure, the ones already started
    are stopped again. None in a dry run (each only said)."""
    started: list[Proc] = []
    try:
        for forward, port in zip(release.forwards, ports, strict=True):
            proc = portforward.start(
                forward.name, command(release, forward, port), port, run, meta=forward.meta
            )
            if proc:
                started.append(proc)
    except BaseException:
        stop(started)
        raise
    return started


def stop(procs: list[Proc]) -> list[str]:
    return [portforward.stop(proc) for proc in reversed(procs)]
