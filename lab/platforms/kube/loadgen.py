"""Locust workers as pods beside a Kubernetes stack (`load.workers: cluster`).

The master runs here, as on every platform, and alone writes the results; per level the lab
applies, in the stack's namespace:

- a Service `vllm-lab-locust-master` through which the pods reach the master: without a
  selector and with Endpoints naming this machine's address (kind: its Docker network's
  gateway), or an ExternalName (minikube: host.minikube.internal);
- a Job of N worker pods running `python -m locust -f locustfiles/<file> --worker`, which
  reach the stack through its router Service, in-cluster (the master hands them that host,
  their users and options).

After the level the Job goes (the pods end when the master quits, or are deleted then); the
Service stays until `down` deletes the namespace, or the level's end deletes it where the
namespace was not the lab's.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

import yaml

from lab.config import values
from lab.config.profile import Profile
from lab.console import say
from lab.errors import ConfigError, StepFailed
from lab.platforms.kube.details import KubeDetails
from lab.platforms.kube.engines import kube, kubectl
from lab.platforms.kube.platform import LAB_LABEL
from lab.runner import Runner
from lab.stack.state import State

SERVICE = "vllm-lab-locust-master"
WORKER_APP = "vllm-lab-locust-worker"
MINIKUBE_HOST = "host.minikube.internal"  # minikube's name for the host, in every pod
WORKDIR = "/lab"  # where the image holds the kit (its locustfiles/)
WORKER_CPU = "1"  # one core per worker: a Locust process uses at most one


def problems(profile: Profile, platform: str) -> list[str]:
    """What keeps cluster workers from running on a Kubernetes platform, before anything
    starts (lab.platforms.worker_problems says it for the platforms without them)."""
    load = profile.load
    if load.workers != "cluster":
        return []
    if load.processes == 1:
        return [f"{profile.source}: load.workers: cluster workers need load.processes of 2 or "
                "more (or auto)"]  # fmt: skip
    if platform == "existing" and not load.master_address:
        return [
            f"{profile.source}: load.master_address: the pods of an existing cluster must reach "
            "this machine: expected its address as they see it"
        ]
    return [
        f"{profile.source}: scenario {s.name}: direct: the worker pods cannot reach the engines "
        "the lab reaches through port-forwards; expected load.workers: local"
        for s in profile.scenarios
        if getattr(s, "direct", False)
    ]


def job_name(level: str) -> str:
    return f"vllm-lab-locust-{level}".lower().replace("_", "-").replace(".", "-")[:63]


def manifests(
    namespace: str,
    level: str,
    workers: int,
    image: str,
    address: str,
    port: int,
    command: list[str],
    api_key: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The Service the pods reach the master through, and the Job of `workers` worker pods
    running `command` (a worker's argv in WORKDIR)."""
    labels = dict([LAB_LABEL.split("=")])
    meta = {"name": SERVICE, "namespace": namespace, "labels": labels}
    ports = [{"name": "locust", "port": port, "protocol": "TCP"}]
    routes: list[dict[str, Any]]
    if _is_ip(address):
        service = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                   "spec": {"ports": ports}}  # fmt: skip
        found = {"addresses": [{"ip": address}], "ports": ports}
        endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": [found]}
        routes = [service, endpoints]
    else:
        spec = {"type": "ExternalName", "externalName": address, "ports": ports}
        routes = [{"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}]
    container: dict[str, Any] = {
        "name": "worker",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "workingDir": WORKDIR,
        "command": command,
        "resources": {"requests": {"cpu": WORKER_CPU}},
    }
    if api_key:
        secret = {"name": api_key["secretName"], "key": api_key["secretKey"]}
        container["env"] = [{"name": api_key["env"], "valueFrom": {"secretKeyRef": secret}}]
    pod_labels = {**labels, "app.kubernetes.io/name": WORKER_APP}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(level), "namespace": namespace, "labels": pod_labels},
        "spec": {
            "parallelism": workers,
            "completions": workers,
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }
    return [*routes, job]


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


@dataclass
class ClusterWorkers:
    """Where a distributed level's workers run when they are pods: lab.load.locust asks it to
    start and stop them around each level."""

    run: Runner
    details: KubeDetails  # the Kubernetes state: context, namespace, release
    image: str
    address: str  # this machine, as the pods reach it
    api_key: dict[str, str] | None = None

    @property
    def master_host(self) -> str:
        """How the workers dial the master."""
        return SERVICE

    @property
    def router(self) -> str:
        """The router as the pods reach it: its Service, in-cluster."""
        return f"http://{self.details.release}-router-service.{self.details.namespace}.svc:80"

    def start(self, level: str, workers: int, port: int, command: list[str]) -> None:
        found = manifests(
            self.details.namespace, level, workers, self.image, self.address, port, command,
            self.api_key,
        )  # fmt: skip
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": found}, indent=2)
        if self.run.dry_run:
            say(f"[dry-run] for {level}:\n{yaml.safe_dump_all(found, sort_keys=False)}")
        self.run.run(kubectl(self.details, "apply", "-f", "-"), stdin=document)

    def stop(self, level: str) -> None:
        """The level's Job and its pods (they may still sit out Locust's stop timeout)."""
        self.run.run(
            kubectl(self.details, "delete", "job", job_name(level), "--ignore-not-found",
                    "--wait=false", "--cascade=background"),
            check=False,
        )  # fmt: skip


def cluster_workers(
    profile: Profile, current: State, run: Runner | None = None
) -> ClusterWorkers | None:
    """The cluster workers of a profile on the lab that is up, or None for local workers."""
    if profile.load.workers != "cluster":
        return None
    if found := problems(profile, current.platform):
        raise ConfigError(found)
    run = run or Runner()
    address = profile.load.master_address or master_address(current.platform, run)
    api_key = None
    if profile.engine.api_key_env:
        api_key = {**values.API_KEY_SECRET, "env": profile.engine.api_key_env}
    return ClusterWorkers(run, kube(current), profile.load.image, address, api_key)


def workers(
    profile: Profile, current: State, run: Runner | None, placeholder: str
) -> ClusterWorkers:
    """The cluster workers (the profile asks for them); a dry run that cannot ask Docker where
    this machine is (no kind network yet) says `placeholder` instead."""
    run = run or Runner()
    try:
        found = cluster_workers(profile, current, run)
    except StepFailed:
        if not placeholder:
            raise
        return ClusterWorkers(run, kube(current), profile.load.image, placeholder)
    assert found is not None  # the profile asks for cluster workers
    return found


def master_address(platform: str, run: Runner) -> str:
    """This machine's address as the cluster's pods reach it: kind's Docker network gateway,
    or minikube's host name."""
    if platform == "minikube":
        return MINIKUBE_HOST
    template = "{{range .IPAM.Config}}{{.Gateway}} {{end}}"
    done = run.run(["docker", "network", "inspect", "kind", "-f", template], query=True)
    gateways = [g for g in done.stdout.split() if _is_ip(g) and "." in g]
    if not gateways:
        raise StepFailed(
            "kind's Docker network has no IPv4 gateway the worker pods could reach this machine "
            "at: set load.master_address"
        )
    return gateways[0]
