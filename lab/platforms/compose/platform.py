"""The Compose platform: the stack as containers on one Docker host, without Kubernetes.

vLLM CPU engines, a router (production-stack's image, or the vLLM project's vllm-router), Prometheus
and Grafana, as the Compose project `vllm-lab`: compose/docker-compose.yml plus a file rendered from
the profile (lab.platforms.compose.composefile). Every docker and Compose command goes through the
lab's Runner; the project's fixed name is what `down` removes, and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from lab.config import checks, commandlines, environment, model
from lab.config.profile import Profile
from lab.console import bad, note, ok, say
from lab.errors import ConfigError, LabError, StepFailed
from lab.paths import state_dir
from lab.platforms.compose import composefile, images
from lab.platforms.compose.composefile import PROJECT, Ports
from lab.platforms.compose.details import compose_details
from lab.platforms.compose.engines import EngineOps, engine_list
from lab.platforms.plan import Plan
from lab.runner import Done, Runner
from lab.stack import endpoints, fault_control, processes, state
from lab.stack.endpoints import Endpoints
from lab.stack.state import State

# Loopback ports tried first (the design's conventions); a taken one is said and skipped.
DEFAULT_PORTS = {
    "router": 30080,
    "router_metrics": 29000,
    "engine": 8000,
    "prometheus": 9090,
    "grafana": 3000,
}
PROJECT_LABEL = f"label=com.docker.compose.project={PROJECT}"
HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
DOCKER_HINT = "Debian: apt install docker.io; or https://docs.docker.com/engine/install/"
COMPOSE_HINT = "Debian: apt install docker-compose; or the Compose v2 plugin (docker compose)"


@dataclass(frozen=True)
class Container:
    service: str
    id: str
    name: str
    state: str  # running, exited, created, ...
    health: str  # healthy, unhealthy, starting, or '' without a health check

    @property
    def condition(self) -> str:
        return f"{self.state} ({self.health})" if self.health else self.state


class ComposePlatform(EngineOps):
    name = "compose"

    def __init__(
        self,
        dry_run: bool = False,
        *,
        ports: dict[str, int] | None = None,
        ready_timeout: float = 120.0,
    ) -> None:
        self.dry_run = dry_run
        self.run = Runner(dry_run=dry_run, quiet=True)
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        self.ready_timeout = ready_timeout  # router, Prometheus and Grafana
        self.tool: list[str] = []
        self.versions: dict[str, str] = {}

    # --- prerequisites ------------------------------------------------------------------------

    def check(self, profile: Profile) -> None:
        problems = _profile_problems(profile) + environment.problems(profile)
        problems += checks.simulated_problems(profile, self.name)
        problems += self._docker_problems()
        if not problems:
            problems += self._image_problems(profile)
        if problems:
            raise ConfigError(problems)
        ok(
            f"Docker {self.versions['docker']} at {docker_host()}, "
            f"{' '.join(self.tool)} {self.versions['compose']}"
        )

    def _docker_problems(self) -> list[str]:
        """The Docker CLI, a daemon that answers (DOCKER_HOST respected), a Compose tool."""
        if shutil.which("docker") is None:
            return [f"docker is not installed ({DOCKER_HINT})"]
        problems = []
        done = self.run.run(
            ["docker", "version", "--format", "{{.Server.Version}}"], query=True, check=False
        )
        if done.returncode != 0 or not done.stdout.strip():
            why = (done.stderr or done.stdout).strip().splitlines()
            problems.append(
                f"no Docker daemon answers at {docker_host()}: {why[-1] if why else 'no answer'} "
                "(start one, e.g. systemctl start docker, or point DOCKER_HOST at one)"
            )
        else:
            self.versions["docker"] = done.stdout.strip()
        for tool in (["docker", "compose"], ["docker-compose"]):
            if shutil.which(tool[0]) is None:
                continue
            asked = self.run.run([*tool, "version", "--short"], query=True, check=False)
            if asked.returncode == 0 and asked.stdout.strip():
                self.tool, self.versions["compose"] = tool, asked.stdout.strip()
                break
        else:
            problems.append(
                f"neither `docker compose` nor docker-compose is there ({COMPOSE_HINT})"
            )
        return problems

    def _image_problems(self, profile: Profile) -> list[str]:
        """Lab-built images that are neither in the daemon nor cached, on a machine that cannot
        build them."""
        builder = images.Builder(self.run)
        for image in stack_images(profile):
            recipe = images.recipe_of(image)
            if recipe and not builder.present(recipe.ref) and not builder.cached(recipe):
                return images.build_problems()
        return []

    # --- up -----------------------------------------------------------------------------------

    def up(self, profile: Profile) -> State:
        current = State(platform=self.name, profile=profile.resolved, profile_source=profile.source)
        phases: dict[str, float] = {}
        current.details["phases"] = phases
        try:
            self._refuse_other_project()
            started = time.monotonic()
            weights = model.resolve(profile)
            self._images(profile)
            phases["images"] = time.monotonic() - started
            replicas = profile.engine.replicas
            ports = self._choose_ports(replicas)
            self._render(profile, replicas, ports, current)
            state.save(current)
            fault_control.env(profile, fresh=True)  # this bring-up's token, if faults are asked

            started = time.monotonic()
            engines = composefile.engine_names(replicas)
            self.compose(current, "up", "--detach", "--no-color", *engines, profile=profile)
            self.wait(engines, profile.engine.startup_timeout)
            phases["engines"] = time.monotonic() - started

            started = time.monotonic()
            rest = composefile.services(profile, replicas)[replicas:]
            self.compose(current, "up", "--detach", "--no-color", *rest, profile=profile)
            self.wait(rest, self.ready_timeout)
            phases["router"] = time.monotonic() - started
            current.endpoints = compose_endpoints(profile, ports, weights)
            state.save(current)
            return current
        except BaseException:
            # A failed step or Ctrl-C: remove what this `up` started, keep nothing half up.
            if compose_details(current).command:
                for line in self.down(current):
                    say(f"🧹 {line}")
            else:
                state.clear()
            raise

    def _refuse_other_project(self) -> None:
        if self.containers():
            raise LabError(
                f"this Docker daemon already runs a Compose project named {PROJECT} (another "
                "lab, from another state directory?): `python -m lab down` there, or "
                f"`docker-compose -p {PROJECT} down` if nothing records it"
            )

    def _images(self, profile: Profile) -> None:
        """Every image the stack needs, in the daemon: the lab's own built or imported from the
        cache, others pulled."""
        builder = images.Builder(self.run)
        for image in stack_images(profile):
            if images.recipe_of(image):
                builder.ensure(image)
            elif not builder.present(image):
                say(f"⬇️  {image} is not on this Docker host: pulling it")
                self.run.run(["docker", "pull", image], timeout=3600)

    def _choose_ports(self, replicas: int) -> Ports:
        taken: set[int] = set()

        def pick(key: str, what: str, offset: int = 0) -> int:
            return processes.claim_port(self.ports[key] + offset, taken, what)

        engines = tuple(pick("engine", f"engine-{i}", i) for i in range(replicas))
        return Ports(
            router=pick("router", "router"),
            router_metrics=pick("router_metrics", "router metrics"),
            prometheus=pick("prometheus", "prometheus"),
            grafana=pick("grafana", "grafana"),
            engines=engines,
        )

    def _render(self, profile: Profile, replicas: int, ports: Ports, current: State) -> None:
        """The one rendering step: the profile's file beside compose/docker-compose.yml and
        Prometheus' configuration, both under the state directory."""
        folder = _rendered_dir()
        scrape = self.run.write(
            folder / "prometheus.yml",
            composefile.to_yaml(composefile.prometheus_config(profile, replicas)),
        )
        rendered = composefile.render(profile, replicas, ports, scrape)
        override = self.run.write(
            folder / "lab.yml", composefile.to_yaml(rendered, composefile.header(profile))
        )
        current.details["compose"] = {
            "command": composefile.command_line(self.tool or ["docker-compose"], override),
            "override": str(override),
            "prometheus_config": str(scrape),
            "replicas": replicas,
            "ports": ports.to_json(),
            "versions": self.versions,
        }

    def plan(self, profile: Profile) -> Plan:
        """What `up` would do: the model as it would resolve it, the images it needs, the
        rendered files, the commands, on the ports it would use now."""
        run, self.run = self.run, Runner(dry_run=True, quiet=True)
        try:
            model.locate(profile)
            say(f"[dry-run] images: {', '.join(stack_images(profile))}")
            builder = images.Builder(self.run)
            for image in stack_images(profile):
                if images.recipe_of(image) and not builder.present(image):
                    builder.ensure(image)
            replicas = profile.engine.replicas
            planned = State(self.name, profile.resolved, profile.source)
            ports = self._choose_ports(replicas)
            self._render(profile, replicas, ports, planned)
            details = compose_details(planned)
            config = Path(details.prometheus_config)
            say(f"[dry-run] {config}:")
            say(composefile.to_yaml(composefile.prometheus_config(profile, replicas)))
            say(f"[dry-run] {details.override} (with {composefile.base_file()}):")
            say(composefile.to_yaml(composefile.render(profile, replicas, ports, config)))
            services = composefile.services(profile, replicas)
            up = ("up", "--detach", "--no-color")
            self.compose(planned, *up, *services[:replicas], profile=profile)
            self.compose(planned, *up, *services[replicas:], profile=profile)
            named = {f"engine-{i}": port for i, port in enumerate(ports.engines)}
            used = {k: v for k, v in ports.to_json().items() if k != "engines"}
            return Plan(self.name, list(self.run.plan), {**named, **used})
        finally:
            self.run = run

    def restart_router(self, current: State, profile: Profile) -> str:
        """Recreate the router's container with the profile's router settings, over the
        engines that run now; the engines' containers are not touched. Requests in flight
        through the router while it restarts are cut: restart it between runs."""
        problems = _router_problems(profile)
        if problems:
            raise ConfigError(problems)
        details = compose_details(current)
        ports = Ports.from_json(details.ports)
        self._render(profile, details.replicas, ports, current)
        state.save(current)
        up = ("up", "--detach", "--no-color", "--no-deps", "--force-recreate", "router")
        self.compose(current, *up, profile=profile)
        self.wait(["router"], self.ready_timeout)
        current.profile = {**current.profile, "router": profile.resolved["router"]}
        where = current.require_endpoints()
        weights = where.tokenizer or model.locate(profile)
        fresh = compose_endpoints(profile, ports, weights)
        current.endpoints = fresh.with_engines(where.engines)
        state.save(current)
        return f"recreated the router ({profile.router.implementation}, {profile.router.routing})"

    # --- the project's containers -------------------------------------------------------------

    def compose(self, current: State, *args: str, profile: Profile | None = None) -> Done:
        """Run a Compose command on the lab's project (secrets by environment only)."""
        argv = [*_project_command(current), *args]
        return self.run.run(argv, secret_env=secrets(profile) if profile else None, timeout=900)

    def containers(self) -> dict[str, Container]:
        """{service: container} of the lab's project on this daemon."""
        fields = "{{.ID}}\t{{.Names}}\t{{.State}}\t{{.Status}}\t"
        fields += '{{.Label "com.docker.compose.service"}}'
        done = self.run.run(
            ["docker", "ps", "--all", "--filter", PROJECT_LABEL, "--format", fields],
            query=True,
            check=False,
        )
        if done.returncode != 0:
            raise StepFailed(f"docker ps failed: {(done.stderr or done.stdout).strip()}")
        found = {}
        for line in done.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) != 5:
                continue
            cid, name, status_word, status, service = parts
            health = HEALTH.search(status)
            condition = health.group(1).replace("health: ", "") if health else ""
            found[service] = Container(service, cid, name, status_word, condition)
        return found

    def wait(self, services: list[str], timeout: float) -> None:
        """Until every service's container is healthy (running, without a health check);
        fail fast on one that exits or turns unhealthy, with the end of its log."""
        began = time.monotonic()
        last_word = began
        waiting = list(services)
        while waiting:
            found = self.containers()
            for service in list(waiting):
                container = found.get(service)
                if container is None:
                    continue
                if container.state in ("exited", "dead") or container.health == "unhealthy":
                    self._failed(container, container.condition)
                if container.health == "healthy" or (
                    container.state == "running" and not container.health
                ):
                    ok(f"{service}: healthy after {time.monotonic() - began:.1f} s")
                    waiting.remove(service)
            elapsed = time.monotonic() - began
            if waiting and elapsed > timeout:
                stuck = found.get(waiting[0])
                if stuck is None:
                    raise StepFailed(f"{waiting[0]}: no container after {timeout:.0f} s")
                self._failed(stuck, f"not healthy after {timeout:.0f} s")
            if waiting and time.monotonic() - last_word >= 15:
                say(f"⏳ still starting: {', '.join(waiting)} ({elapsed:.0f} s)")
                last_word = time.monotonic()
            if waiting:
                time.sleep(2)

    def _failed(self, container: Container, why: str) -> None:
        logs = self.run.run(
            ["docker", "logs", "--tail", "25", container.id], query=True, check=False
        )
        bad(f"{container.service} {why}; last lines of its log (docker logs {container.name}):")
        say(processes.indent((logs.stdout + logs.stderr).strip()))
        raise StepFailed(f"{container.service} {why} (docker logs {container.name})")

    # --- status and down ----------------------------------------------------------------------

    def health(self, current: State) -> dict[str, str]:
        """{service: condition} of the lab's containers, e.g. 'running (healthy)', 'exited'."""
        return {service: container.condition for service, container in self.containers().items()}

    def down(self, current: State, volumes: bool = False) -> list[str]:
        """`down` of the lab's project (and, with volumes, its named volumes): its containers,
        including engines scaled away, and its network; nothing else on the daemon."""
        if not compose_details(current).command:
            state.clear()
            return ["nothing of the Compose project was started"]
        args = ["down", "--remove-orphans", "--timeout", "10"]
        if volumes:
            args.append("--volumes")
        done = self.compose(current, *args)
        if self.dry_run:
            return []
        lines = removed(done.stdout + done.stderr)
        left = self.containers()
        if left:
            raise StepFailed(f"containers of {PROJECT} still there: {', '.join(left)}")
        if not volumes:
            kept = self._volumes()
            if kept:
                note(f"kept volumes {', '.join(kept)} (down --volumes removes them)")
        state.clear()
        return lines or [f"Compose project {PROJECT} removed"]

    def _volumes(self) -> list[str]:
        done = self.run.run(
            ["docker", "volume", "ls", "--quiet", "--filter", PROJECT_LABEL],
            query=True,
            check=False,
        )
        return done.stdout.split()


def _rendered_dir() -> Path:
    return state_dir() / "compose"


def _project_command(current: State) -> list[str]:
    """The Compose command for the lab's project, rebuilt from parts the lab knows: the state
    file only chooses between the two Compose tools, and a recorded command that is anything
    but the one the lab would build is refused, never run."""
    recorded = list(compose_details(current).command)
    for tool in (["docker", "compose"], ["docker-compose"]):
        rebuilt = composefile.command_line(tool, _rendered_dir() / "lab.yml")
        if recorded == rebuilt:
            return rebuilt
    raise ConfigError(
        f"{state.path()}: details.compose.command is not the lab's own Compose command "
        f"(expected docker compose or docker-compose on project {PROJECT} with "
        f"{_rendered_dir() / 'lab.yml'}); run `down` from the state directory `up` used"
    )


def removed(output: str) -> list[str]:
    """What `down` said it removed, one line each: docker-compose 1.29 writes 'Removing NAME
    ... done' (and the same line unfinished before it), 'Removing network NAME'; Compose v2
    writes 'Container NAME  Removed'."""
    found = []
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "Removing" and words[1] in ("network", "volume"):
            found.append(f"removed {words[1]} {words[2]}")
        elif len(words) >= 2 and words[0] == "Removing" and words[-1] == "done":
            found.append(f"removed container {words[1]}")
        elif (
            len(words) >= 3
            and words[0] in ("Container", "Network", "Volume")
            and (words[-1] == "Removed")
        ):
            found.append(f"removed {words[0].lower()} {words[1]}")
    return list(dict.fromkeys(found))


def _profile_problems(profile: Profile) -> list[str]:
    """Profile settings the Compose platform cannot serve."""
    where = profile.source
    problems = []
    if profile.gpu:
        problems.append(
            f"{where}: engine.gpu: the compose platform runs vLLM CPU engines; expected 0 "
            "(GPU profiles run on kind or minikube)"
        )
    if profile.lmcache.enabled:
        problems.append(f"{where}: lmcache.enabled: LMCache needs GPU engines")
    if profile.engine.tensor_parallel_size != 1:
        problems.append(f"{where}: engine.tensor_parallel_size: expected 1 on CPU engines")
    return problems + _router_problems(profile)


def _router_problems(profile: Profile) -> list[str]:
    """Router settings the Compose platform's routers cannot serve."""
    where = profile.source
    problems = []
    if profile.router.routing not in commandlines.POLICIES:
        problems.append(
            f"{where}: router.routing: '{profile.router.routing}' needs LMCache's KV-cache "
            "controller, which CPU engines do not run; expected one of "
            f"{sorted(commandlines.POLICIES)}"
        )
    if (
        profile.router.implementation == "vllm-router"
        and profile.router.session_key.lower() not in commandlines.SESSION_HEADERS
    ):
        problems.append(
            f"{where}: router.session_key: vllm-router keys sessions only on these headers: "
            f"{', '.join(commandlines.SESSION_HEADERS)}"
        )
    return problems + checks.policy_problems(profile, "compose", profile.router.implementation)


def stack_images(profile: Profile) -> list[str]:
    """Every image `up` runs, with its tag."""
    wanted = [
        f"{profile.engine.image}:{profile.engine.tag}",
        f"{profile.router.image}:{profile.router.tag}",
    ]
    if profile.observability.prometheus:
        wanted.append(profile.observability.prometheus_image)
        if profile.observability.grafana:
            wanted.append(profile.observability.grafana_image)
    return list(dict.fromkeys(wanted))


def secrets(profile: Profile) -> dict[str, str]:
    """Values of the variables the rendered file names without a value."""
    found = {}
    if profile.engine.api_key_env:
        found["VLLM_API_KEY"] = os.environ.get(profile.engine.api_key_env, "")
    token = os.environ.get(profile.model.hf_token_env)
    if token and not profile.model.is_tiny:
        found["HF_TOKEN"] = token
    if fault_control.wanted(profile) and fault_control.made():
        found.update(fault_control.env(profile, fresh=False))
    return found


def compose_endpoints(profile: Profile, ports: Ports, weights: str) -> Endpoints:
    """`weights`: the model as resolved on this host (the tokenizer of token-ID prompts)."""
    published = {k: v for k, v in ports.to_json().items() if k != "engines"}
    return endpoints.compose(profile, engine_list(ports), published, weights, PROJECT)


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
