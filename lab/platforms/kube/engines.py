"""Reaching the stack from this machine, and the engine operations, on Kubernetes.

The router is reached through a managed `kubectl port-forward` of its service (or kind's
NodePort mapping, see kind.py). Each engine pod gets a port-forward of its own: behind one
service, several replicas could not be told apart, and the routing check reads each engine's
own counters. Killing, restarting and scaling engines are Kubernetes' own means (delete a
pod, scale the Deployment); the chart's router discovers the pods by itself.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx

from lab.config.profile import Profile
from lab.console import ok
from lab.errors import ConfigError, StepFailed
from lab.platforms.kube import api as kubeapi
from lab.platforms.kube import portforward, readiness
from lab.platforms.kube.api import Api, Clock, Group
from lab.platforms.kube.details import KubeDetails
from lab.runner import Runner
from lab.stack import processes
from lab.stack.endpoints import Engine
from lab.stack.state import State

ENGINE_CONTAINER_PORT = 8000
ROUTER_SERVICE_PORT = 80


def engine_selector(details: KubeDetails) -> str:
    """The chart's standard labels of one model's engine pods."""
    return (
        f"app.kubernetes.io/instance={details.release},"
        f"app.kubernetes.io/component=serving-engine,app.kubernetes.io/name={details.engine}"
    )


def router_selector(details: KubeDetails) -> str:
    return f"app.kubernetes.io/instance={details.release},app.kubernetes.io/component=router"


def kubectl(details: KubeDetails, *args: str) -> list[str]:
    """A kubectl command in the lab's namespace, pinned to the lab's context."""
    return ["kubectl", *args, "-n", details.namespace, "--context", details.context]


def kube(current: State) -> KubeDetails:
    """The state's Kubernetes details, typed. Read only: the operations that change them (the
    replica count, the engines' pods) write the state's own record."""
    return KubeDetails.from_json(current.details)


def rollout_router(current: State, run: Runner) -> str:
    """A router restart under load on Kubernetes: the chart's router Deployment rolled out
    again (its pods replaced, as `kubectl rollout restart` does), waited for."""
    details = kube(current)
    deployment = f"deployment/{details.release}-deployment-router"
    run.run(kubectl(details, "rollout", "restart", deployment))
    run.run(kubectl(details, "rollout", "status", deployment, "--timeout=300s"), query=True)
    return f"{deployment} rolled out again"


class EngineOps:
    """Port-forwards and engine operations of KubePlatform (which provides these attributes)."""

    dry_run: bool
    run: Runner
    clock: Clock
    ports: dict[str, int]
    router_timeout: float
    unschedulable_after: float | None

    def _api(self, current: State) -> Api:
        raise NotImplementedError

    def _save(self, current: State) -> None:
        raise NotImplementedError

    # --- the engine operations of the Platform interface ------------------------------------

    def kill_engine(self, current: State, index: int) -> str:
        """Delete engine `index`'s pod with no grace period, as a crash would end it."""
        name = f"engine-{index}"
        pod = _engine_pod(current, name)
        force = ["--grace-period=0", "--force", "--wait=false"]
        self.run.run(kubectl(kube(current), "delete", "pod", pod, *force))
        return f"deleted pod {pod} ({name}) with no grace period; its Deployment starts another"

    def restart_engine(self, current: State, index: int, profile: Profile) -> str:
        """Kubernetes restarts a killed engine by itself: wait for the replacement pod, then
        forward engine `index` to it (on its old port when free). A live engine is deleted
        gracefully first, so a restart always yields a new pod."""
        name = f"engine-{index}"
        old = _engine_pod(current, name)
        if old in [readiness.name(pod) for pod in self._engine_pods(current)]:
            self.run.run(kubectl(kube(current), "delete", "pod", old, "--wait=false"))
        details = kube(current)
        others = {pod for key, pod in details.engines.items() if key != name}
        ready = self._wait_engines(current, details.replicas)
        fresh = [pod for pod in ready if pod not in others and pod != old]
        if not fresh:
            raise StepFailed(f"no replacement pod for {name} became ready")
        engine = self._reforward(current, name, fresh[0])
        return f"{name}: replacement pod {fresh[0]} ready, serving at {engine.url}"

    def scale(self, current: State, replicas: int, profile: Profile) -> State:
        """`kubectl scale` of the engine Deployment. Removed pods get SIGTERM and their grace
        period to finish what they serve; port-forwards follow the pods that remain, and new
        pods get the lowest free engine names."""
        details = kube(current)
        deployment = f"deployment/{details.release}-{details.engine}-deployment-vllm"
        self.run.run(kubectl(details, "scale", deployment, f"--replicas={replicas}"))
        current.details["replicas"] = replicas
        ready = self._wait_engines(current, replicas)
        for name, pod in list(details.engines.items()):
            if pod not in ready:
                self._stop_forward(current, name)
                del current.details["engines"][name]
        for pod in ready:
            if pod not in kube(current).engines.values():
                self._reforward(current, _free_name(kube(current).engines), pod)
        self._save(current)
        return current

    # --- port-forwards --------------------------------------------------------------------------

    def _forward_router(self, current: State) -> str:
        details = kube(current)
        port = self._port(current, "router", self.ports["router"])
        service = f"svc/{details.release}-router-service"
        argv = portforward.command(
            details.context, details.namespace, service, port, ROUTER_SERVICE_PORT
        )
        proc = portforward.start(
            "forward-router", argv, port, self.run, meta={"component": "router"}
        )
        if proc:
            current.processes.append(proc)
            self._save(current)
        url = f"http://127.0.0.1:{port}"
        self.wait_router(url)
        return url

    def _forward_engine(self, current: State, name: str, pod: str, port: int = 0) -> Engine:
        details = kube(current)
        port = port or self._port(current, name, self.ports["engine"] + _index(name))
        argv = portforward.command(
            details.context, details.namespace, f"pod/{pod}", port, ENGINE_CONTAINER_PORT
        )
        meta = {"engine": name, "pod": pod}
        proc = portforward.start(f"forward-{name}", argv, port, self.run, meta=meta)
        if proc:
            current.processes.append(proc)
        current.details["engines"][name] = pod
        self._save(current)
        return Engine(name, f"http://127.0.0.1:{port}")

    def _reforward(self, current: State, name: str, pod: str) -> Engine:
        """Point engine `name` at `pod`, on its old port when it had one and it is free."""
        old = self._stop_forward(current, name)
        port = old if old and processes.port_free(old) else 0
        engine = self._forward_engine(current, name, pod, port)
        if current.endpoints:
            kept = [e for e in current.endpoints.engines if e.name != name]
            engines = tuple(sorted([*kept, engine], key=lambda e: _index(e.name)))
            current.endpoints = dataclasses.replace(current.endpoints, engines=engines)
        self._save(current)
        return engine

    def _stop_forward(self, current: State, name: str) -> int:
        """Stop engine `name`'s port-forward and drop it from the endpoints; its port or 0."""
        for proc in list(current.processes):
            if proc.meta.get("engine") == name:
                portforward.stop(proc)
                current.processes.remove(proc)
                if current.endpoints:
                    kept = tuple(e for e in current.endpoints.engines if e.name != name)
                    current.endpoints = dataclasses.replace(current.endpoints, engines=kept)
                return proc.port
        return 0

    def _port(self, current: State, what: str, preferred: int) -> int:
        if self.dry_run:
            return preferred  # nothing listens in a dry run: the plan shows the usual port
        taken = {proc.port for proc in current.processes}
        return processes.claim_port(preferred, taken, what)

    def wait_router(self, url: str) -> None:
        """The router answers /health through whatever path reaches it from here."""
        if self.dry_run:
            return
        deadline = time.monotonic() + self.router_timeout
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    ok(f"router answers at {url}")
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"router not answering {url}/health after {self.router_timeout:.0f} s"
                )
            time.sleep(min(self.clock.poll, 0.5))

    # --- engine pods ----------------------------------------------------------------------------

    def _engine_pods(self, current: State) -> list[dict[str, Any]]:
        details = kube(current)
        pods = self._api(current).pods(details.namespace, engine_selector(details))
        return [pod for pod in pods if not readiness.terminating(pod)]

    def _wait_engines(self, current: State, replicas: int) -> list[str]:
        """Names of the engine pods once exactly `replicas` of them are ready."""
        details = kube(current)
        group = Group("engine", engine_selector(details), replicas)
        kubeapi.wait_pods(
            self._api(current),
            details.namespace,
            [group],
            current.profile["kubernetes"]["ready_timeout"],
            self.clock,
            self.unschedulable_after,
        )
        return [readiness.name(pod) for pod in group.ready]


def _engine_pod(current: State, name: str) -> str:
    engines = kube(current).engines
    if name not in engines:
        raise ConfigError(f"no {name} in this lab (it has {', '.join(engines) or 'none'})")
    return engines[name]


def _free_name(engines: dict[str, str]) -> str:
    index = 0
    while f"engine-{index}" in engines:
        index += 1
    return f"engine-{index}"


def _index(name: str) -> int:
    return int(name.rsplit("-", 1)[1])
