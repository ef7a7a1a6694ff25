"""What the failover and scaling scenarios do to a Compose stack's engines: `docker kill` one
(a crash), start it again, run more or fewer engine services and tell the router.

vllm-router 0.1.17 is told through its worker API, found by experiment and pinned by
tests/platforms/test_compose_stack.py: POST /add_worker?url=URL (200 once the worker is healthy; 400
if it is already there; it blocks while the worker does not answer, so engines are added only once
healthy) and POST /remove_worker?url=URL (200, for an unknown URL too); GET /list_workers says
{"urls": [...]}. production-stack's router takes its static backends on its command line, so it is
recreated with the new list.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import httpx

from lab.config.profile import Profile
from lab.console import note, ok, say
from lab.errors import ConfigError, StepFailed
from lab.platforms.compose import composefile
from lab.platforms.compose.composefile import Ports
from lab.stack import processes, state
from lab.stack.endpoints import Engine
from lab.stack.metrics import scrape
from lab.stack.state import State

if TYPE_CHECKING:
    from lab.platforms.compose.platform import ComposePlatform

RUNNING = "vllm:num_requests_running"
DRAIN_TIMEOUT = 60.0
ADD_TIMEOUT = 120.0


class EngineOps:
    def kill_engine(self: ComposePlatform, current: State, index: int) -> str:
        container = self._engine_container(current, index)
        self.run.run(["docker", "kill", container.id])
        return f"killed {container.service} (container {container.name})"

    def restart_engine(self: ComposePlatform, current: State, index: int, profile: Profile) -> str:
        """Start the engine's container again (same port, same command) and wait for health."""
        container = self._engine_container(current, index)
        self.compose(current, "start", container.service)
        self.wait([container.service], profile.engine.startup_timeout)
        port = current.details["compose"]["ports"]["engines"][index]
        return f"restarted {container.service} (container {container.name}) on port {port}"

    def scale(self: ComposePlatform, current: State, replicas: int, profile: Profile) -> State:
        """More engines: started, healthy, then given to the router. Fewer: taken from the
        router first, drained (no request running), then stopped and removed."""
        if replicas < 1:
            raise ConfigError(f"scale: replicas must be at least 1 (asked {replicas})")
        details = current.details["compose"]
        before = details["replicas"]
        ports = Ports.from_json(details["ports"])
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
        assert current.endpoints is not None
        engines = tuple(
            Engine(name, f"http://127.0.0.1:{port}")
            for name, port in zip(composefile.engine_names(replicas), ports.engines, strict=True)
        )
        current.endpoints = dataclasses.replace(current.endpoints, engines=engines)
        state.save(current)
        ok(f"scaled from {before} to {replicas} engines")
        return current

    # --- helpers ------------------------------------------------------------------------------

    def _engine_container(self: ComposePlatform, current: State, index: int):  # type: ignore[no-untyped-def]
        service = f"engine-{index}"
        found = self.containers()
        if service not in found:
            known = ", ".join(sorted(s for s in found if s.startswith("engine-"))) or "none"
            raise ConfigError(f"no {service} in this lab (it has {known})")
        return found[service]

    def _more_ports(self: ComposePlatform, ports: Ports, replicas: int) -> Ports:

        taken = {ports.router, ports.router_metrics, ports.prometheus, ports.grafana}
        taken |= set(ports.engines)
        engines = list(ports.engines)
        for index in range(len(engines), replicas):
            engines.append(
                processes.claim_port(self.ports["engine"] + index, taken, f"engine-{index}")
            )
        return dataclasses.replace(ports, engines=tuple(engines))

    def _tell_router(
        self: ComposePlatform,
        current: State,
        profile: Profile,
        replicas: int,
        add: list[str] | None = None,
        remove: list[str] | None = None,
    ) -> None:
        if profile.router.implementation != "vllm-router":
            # Static backends are command-line arguments: the router is recreated with them.
            if remove:
                ports = Ports.from_json(current.details["compose"]["ports"])
                kept = dataclasses.replace(ports, engines=ports.engines[:replicas])
                self._render(profile, replicas, kept, current)
            self.compose(current, "up", "--detach", "--no-color", "--no-deps", "router")
            self.wait(["router"], self.ready_timeout)
            return
        assert current.endpoints is not None
        router = current.endpoints.router
        with httpx.Client(timeout=ADD_TIMEOUT) as client:
            for name, verb in [(n, "add_worker") for n in add or []] + [
                (n, "remove_worker") for n in remove or []
            ]:
                url = f"http://{name}:{composefile.PORT}"
                answer = client.post(f"{router}/{verb}", params={"url": url})
                if answer.status_code != 200:
                    raise StepFailed(
                        f"router: POST /{verb}?url={url} answered {answer.status_code}: "
                        f"{answer.text.strip()}"
                    )
                say(f"🔀 router: {answer.text.strip()}")

    def _drain(self: ComposePlatform, current: State, removed: list[str]) -> None:
        """Wait (up to a minute) until the removed engines run no request."""
        assert current.endpoints is not None
        urls = {e.name: e.metrics for e in current.endpoints.engines if e.name in removed}
        deadline = time.monotonic() + DRAIN_TIMEOUT
        with httpx.Client(timeout=5) as client:
            while urls:
                for name, url in list(urls.items()):
                    try:
                        busy = scrape(url, client).get(RUNNING, 0.0)
                    except httpx.HTTPError:
                        busy = 0.0  # not answering: nothing left to drain
                    if busy == 0:
                        del urls[name]
                if urls and time.monotonic() > deadline:
                    note(f"still running requests after {DRAIN_TIMEOUT:.0f} s: {', '.join(urls)}")
                    return
                if urls:
                    time.sleep(0.5)
