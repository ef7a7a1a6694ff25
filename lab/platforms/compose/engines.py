"""What the failover and scaling scenarios do to a Compose stack's engines: `docker kill` one
(a crash), start it again, run more or fewer engine services and tell the router.

vllm-router is told through its worker API (lab.stack.router), by the URL it knows the engine
by inside the project's network (http://engine-N:8000). production-stack's router takes its
static backends on its command line, so it is recreated with the new list. A removed engine
drains by the one rule (lab.stack.drain) before its container stops.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lab.config.commandlines import POLICIES
from lab.config.profile import Profile
from lab.console import bad, note, ok, say
from lab.errors import ConfigError
from lab.platforms.compose import composefile
from lab.platforms.compose.composefile import Ports
from lab.platforms.compose.details import compose_details
from lab.runner import Runner
from lab.stack import drain, endpoints, processes, state
from lab.stack.endpoints import Engine
from lab.stack.router import Router
from lab.stack.state import State


class EngineOps:
    """Engine operations of ComposePlatform (which provides these attributes)."""

    run: Runner
    ports: dict[str, int]
    ready_timeout: float

    def compose(self, current: State, *args: str, profile: Profile | None = None) -> Any:
        raise NotImplementedError

    def containers(self) -> dict[str, Any]:
        raise NotImplementedError

    def wait(self, services: list[str], timeout: float) -> None:
        raise NotImplementedError

    def _render(self, profile: Profile, replicas: int, ports: Ports, current: State) -> None:
        raise NotImplementedError

    def kill_engine(self, current: State, index: int) -> str:
        container = self._engine_container(current, index)
        self.run.run(["docker", "kill", container.id])
        return f"killed {container.service} (container {container.name})"

    def pause(self, current: State, service: str, paused: bool) -> str:
        """`docker pause` (a hang fault, Prometheus down) or `docker unpause` of a service's
        container: its processes frozen as they are, then let go on."""
        found = self.containers()
        if service not in found:
            raise ConfigError(f"no {service} in this lab (it has {', '.join(sorted(found))})")
        verb = "pause" if paused else "unpause"
        self.run.run(["docker", verb, found[service].id])
        return f"{service}: docker {verb} {found[service].id}"

    def restart_engine(self, current: State, index: int, profile: Profile) -> str:
        """Start the engine's container again (same port, same command) and wait for health."""
        container = self._engine_container(current, index)
        self.compose(current, "start", container.service)
        self.wait([container.service], profile.engine.startup_timeout)
        port = compose_details(current).ports["engines"][index]
        return f"restarted {container.service} (container {container.name}) on port {port}"

    def scale(self, current: State, replicas: int, profile: Profile) -> State:
        """More engines: started, healthy, then given to the router. Fewer: taken from the
        router first, drained (lab.stack.drain), then stopped and removed."""
        if replicas < 1:
            raise ConfigError(f"scale: replicas must be at least 1 (asked {replicas})")
        details = compose_details(current)
        before = details.replicas
        ports = Ports.from_json(details.ports)
        names = composefile.engine_names(max(before, replicas))
        if replicas > before:
            ports = self._more_ports(ports, replicas)
            self._render(profile, replicas, ports, current)
            state.save(current)
            added = names[before:replicas]
            self.compose(
                current, "up", "--detach", "--no-color", "--no-deps", *added, profile=profile
            )
            self.wait(added, profile.engine.startup_timeout)
            self._tell_router(current, profile, replicas, add=added)
        elif replicas < before:
            removed = names[replicas:before]
            self._tell_router(current, profile, replicas, remove=removed)
            self._drain(current, removed)
            found = self.containers()
            for name in removed:  # by container: the rendered file may no longer name them
                if name in found:
                    self.run.run(["docker", "stop", "--time", "10", found[name].id])
                    self.run.run(["docker", "rm", found[name].id])
            ports = dataclasses.replace(ports, engines=ports.engines[:replicas])
            self._render(profile, replicas, ports, current)
        else:
            note(f"scale: {replicas} engines already")
            return current
        if profile.observability.prometheus:
            # Prometheus re-reads its (rewritten, bind-mounted) configuration on SIGHUP.
            self.compose(current, "kill", "-s", "SIGHUP", "prometheus")
        current.endpoints = current.require_endpoints().with_engines(engine_list(ports))
        state.save(current)
        ok(f"scaled from {before} to {replicas} engines")
        return current

    # --- helpers ------------------------------------------------------------------------------

    def _engine_container(self, current: State, index: int) -> Any:
        service = f"engine-{index}"
        found = self.containers()
        if service not in found:
            known = ", ".join(sorted(s for s in found if s.startswith("engine-"))) or "none"
            raise ConfigError(f"no {service} in this lab (it has {known})")
        return found[service]

    def _more_ports(self, ports: Ports, replicas: int) -> Ports:

        taken = {ports.router, ports.router_metrics, ports.prometheus, ports.grafana}
        taken |= set(ports.engines)
        engines = list(ports.engines)
        for index in range(len(engines), replicas):
            engines.append(
                processes.claim_port(self.ports["engine"] + index, taken, f"engine-{index}")
            )
        return dataclasses.replace(ports, engines=tuple(engines))

    def _tell_router(
        self,
        current: State,
        profile: Profile,
        replicas: int,
        add: list[str] | None = None,
        remove: list[str] | None = None,
    ) -> None:
        if profile.router.implementation != "vllm-router":
            # Static backends are command-line arguments: the router is recreated with them.
            if remove:
                ports = Ports.from_json(compose_details(current).ports)
                kept = dataclasses.replace(ports, engines=ports.engines[:replicas])
                self._render(profile, replicas, kept, current)
            self.compose(current, "up", "--detach", "--no-color", "--no-deps", "router")
            self.wait(["router"], self.ready_timeout)
            return
        router = self.router(current)
        for name in add or []:
            say(f"🔀 router: {router.add_worker(worker_url(name))}")
        for name in remove or []:
            say(f"🔀 router: {router.remove_worker(worker_url(name))}")

    def router(self, current: State) -> Router:
        where = current.require_endpoints()
        return Router(where.router, where.router_metrics, POLICIES[where.routing])

    def drain_signals(self, current: State) -> tuple[str, ...]:
        """The engines run the lab's middleware; vllm-router counts where its policy does;
        production-stack's router is not asked."""
        if current.profile["router"]["implementation"] == "vllm-router":
            return ("router", "middleware", "engine")
        return ("middleware", "engine")

    def _drain(self, current: State, removed: list[str]) -> None:
        """Each removed engine drains by the one rule before its container stops."""
        where = current.require_endpoints()
        vllm_router = current.profile["router"]["implementation"] == "vllm-router"
        router = self.router(current) if vllm_router else None
        for engine in [e for e in where.engines if e.name in removed]:
            signals = drain.readers(
                self.drain_signals(current), engine, worker_url(engine.name), router
            )
            drained = drain.drain(engine.name, signals)
            current.details.setdefault("drains", []).append(drained.to_json())
            (ok if drained.complete else bad)(drained.line)


def worker_url(service: str) -> str:
    """How vllm-router reaches an engine service inside the project's network."""
    return f"http://{service}:{composefile.PORT}"


def engine_list(ports: Ports) -> list[Engine]:
    """The engines as the lab reaches them: their published ports on loopback."""
    names = composefile.engine_names(len(ports.engines))
    return [
        Engine(name, endpoints.loopback(port))
        for name, port in zip(names, ports.engines, strict=True)
    ]
