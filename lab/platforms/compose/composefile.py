"""The Compose configuration a profile renders to: the one step from profile to containers.

compose/docker-compose.yml holds what never changes (health checks, volumes, Grafana's
provisioning); this module renders the rest into a second file: one engine service per
replica (extending compose/engine.yml), the router's arguments, images and tags, host ports
(127.0.0.1 only) and Prometheus' scrape configuration. The engine and vllm-router command
lines are lab.config.commandlines', as the local platform runs them, moved into a container
(listening on all of its interfaces, programs on the image's PATH): one profile, one set of
flags, both platforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.config import commandlines, model
from lab.config.profile import Profile
from lab.paths import PACKAGE, asset
from lab.stack import fault_control, prometheus

PROJECT = "vllm-lab"
PORT = 8000  # what engines and router listen on inside their containers
ROUTER_METRICS_PORT = 29000  # vllm-router's Prometheus endpoint inside its container
MODELS = "/models"  # the lab's model cache, read-only, inside the engines
LAB_CODE = "/opt/vllm-stack-lab"  # the lab's package (the engines' --middleware), read-only
# production-stack's router image runs its console script from its venv.
STACK_ROUTER = "/opt/venv/bin/vllm-router"


@dataclass(frozen=True)
class Ports:
    """Host ports (on 127.0.0.1) the stack's services are published on."""

    router: int
    router_metrics: int
    prometheus: int
    grafana: int
    engines: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "engines": list(self.engines)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ports:
        return cls(**{**data, "engines": tuple(data["engines"])})


def base_file() -> Path:
    return asset("compose", "docker-compose.yml")


def engine_file() -> Path:
    return asset("compose", "engine.yml")


def engine_names(replicas: int) -> list[str]:
    return [f"engine-{index}" for index in range(replicas)]


def secret_names(profile: Profile) -> list[str]:
    """Variables the engines take from Compose's own environment, by name only: their values
    never land in a file."""
    names = ["VLLM_API_KEY"] if profile.engine.api_key_env else []
    if not profile.model.is_tiny:
        names.append("HF_TOKEN")
    if fault_control.wanted(profile):
        names.append(fault_control.TOKEN_ENV)  # the run-time fault control's token
    return names


def weights(profile: Profile) -> tuple[str, Path | None]:
    """(what the engine loads, host folder mounted read-only at /models or None)."""
    if profile.model.is_tiny:
        tiny = model.tiny_dir()
        return f"{MODELS}/{tiny.name}", tiny.parent
    folder = Path(profile.model.source).expanduser()
    if folder.exists() or profile.model.source.startswith(("/", ".", "~")):
        folder = folder.resolve()
        return f"{MODELS}/{folder.name}", folder.parent
    return profile.model.source, None  # a Hugging Face id: the engine downloads it


def in_container(command: list[str], program: str) -> list[str]:
    """A local command line as a container runs it: `program` (on the image's PATH) instead of
    this machine's path to it, and every --host on all interfaces (ports are published on
    127.0.0.1 by Compose)."""
    moved = [program, *command[1:]]
    for index, arg in enumerate(moved[:-1]):
        if arg in ("--host", "--prometheus-host"):
            moved[index + 1] = "0.0.0.0"
    return moved


def engine_service(profile: Profile, index: int, port: int) -> dict[str, Any]:
    loads, models = weights(profile)
    env = commandlines.engine_env(profile, index)
    env.pop("VLLM_API_KEY", None)  # passed by name only (secret_names)
    env["PYTHONPATH"] = LAB_CODE
    volumes = [f"{PACKAGE}:{LAB_CODE}/lab:ro"]
    if models is not None:
        volumes.insert(0, f"{models}:{MODELS}:ro")
    return {
        "extends": {"file": str(engine_file()), "service": "engine"},
        "image": f"{profile.engine.image}:{profile.engine.tag}",
        "command": in_container(commandlines.engine_command(profile, loads, PORT), "python3"),
        "environment": [f"{k}={v}" for k, v in env.items()] + secret_names(profile),
        "ports": [f"127.0.0.1:{port}:{PORT}"],
        "volumes": volumes,
        "healthcheck": {"start_period": f"{profile.engine.startup_timeout}s"},
        "labels": {"org.vllm-stack-lab.engine": str(index)},
    }


def backends(replicas: int) -> list[str]:
    """The engines as the router reaches them: by service name on the project's network."""
    return [f"http://{name}:{PORT}" for name in engine_names(replicas)]


def router_command(profile: Profile, replicas: int) -> list[str]:
    """The router's command line. vllm-router: the local platform's, in a container.
    production-stack's router: static discovery over the engine services, one served model
    per backend, the profile's routing logic and session key."""
    urls = backends(replicas)
    if profile.router.implementation == "vllm-router":
        command = commandlines.router_command(profile, urls, PORT, ROUTER_METRICS_PORT)
        return in_container(command, "vllm-router")
    return [
        STACK_ROUTER,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--service-discovery",
        "static",
        "--static-backends",
        ",".join(urls),
        "--static-models",
        ",".join([profile.model.name] * replicas),
        "--routing-logic",
        profile.router.routing,
        "--session-key",
        profile.router.session_key,
        *commandlines.policy_args(profile, "production-stack"),
    ]


def router_metrics_path(profile: Profile) -> tuple[int, str]:
    """(container port, path) of the router's Prometheus metrics."""
    if profile.router.implementation == "vllm-router":
        return ROUTER_METRICS_PORT, "/metrics"
    return PORT, "/metrics"


def router_service(profile: Profile, replicas: int, ports: Ports) -> dict[str, Any]:
    command = router_command(profile, replicas)
    published = [f"127.0.0.1:{ports.router}:{PORT}"]
    if profile.router.implementation == "vllm-router":
        published.append(f"127.0.0.1:{ports.router_metrics}:{ROUTER_METRICS_PORT}")
    return {
        "image": f"{profile.router.image}:{profile.router.tag}",
        "entrypoint": command[:1],
        "command": command[1:],
        "ports": published,
        "depends_on": {name: {"condition": "service_healthy"} for name in engine_names(replicas)},
    }


def prometheus_config(profile: Profile, replicas: int) -> dict[str, Any]:
    """The local platform's scrape jobs over the containers, named and labelled as the chart's
    ServiceMonitors name them (jobs `<release>-engine-service` and `-router-service`, a `pod`
    per engine): the dashboards shared with the Kubernetes platforms select on those."""
    port, path = router_metrics_path(profile)
    config = prometheus.config(backends(replicas), f"http://router:{port}{path}")
    engines, router = config["scrape_configs"]
    engines["job_name"] = f"{PROJECT}-engine-service"
    engines["static_configs"] = [
        {"targets": [f"{name}:{PORT}"], "labels": {"pod": name}} for name in engine_names(replicas)
    ]
    router["job_name"] = f"{PROJECT}-router-service"
    return config


def services(profile: Profile, replicas: int) -> list[str]:
    """Every service `up` starts, engines first."""
    wanted = [*engine_names(replicas), "router"]
    if profile.observability.prometheus:
        wanted.append("prometheus")
        if profile.observability.grafana:
            wanted.append("grafana")
    return wanted


def render(profile: Profile, replicas: int, ports: Ports, prometheus_file: Path) -> dict[str, Any]:
    """The file rendered beside compose/docker-compose.yml (paths in it are absolute: Compose
    resolves relative ones against the first file's folder)."""
    rendered: dict[str, Any] = {
        name: engine_service(profile, index, ports.engines[index])
        for index, name in enumerate(engine_names(replicas))
    }
    rendered["router"] = router_service(profile, replicas, ports)
    rendered["prometheus"] = {
        "image": profile.observability.prometheus_image,
        "ports": [f"127.0.0.1:{ports.prometheus}:9090"],
        "volumes": [f"{prometheus_file}:/etc/prometheus/prometheus.yml:ro"],
    }
    rendered["grafana"] = {
        "image": profile.observability.grafana_image,
        "ports": [f"127.0.0.1:{ports.grafana}:3000"],
        "volumes": [
            f"{asset('compose', 'grafana', 'provisioning')}:/etc/grafana/provisioning:ro",
            f"{asset('dashboards')}:/etc/grafana/dashboards/vllm-lab:ro",
        ],
    }
    return {"version": "2.4", "services": rendered}


def to_yaml(document: dict[str, Any], header: str = "") -> str:
    text = yaml.safe_dump(document, sort_keys=False, width=100)
    return f"{header}{text}"


def header(profile: Profile) -> str:
    return (
        f"# Rendered by vllm-stack-lab from {profile.source} ({profile.name}): do not edit;\n"
        f"# `python -m lab up --platform compose` writes it again from the profile.\n"
    )


def command_line(tool: list[str], override: Path) -> list[str]:
    """The Compose command for the lab's project: fixed name, both files."""
    return [*tool, "--project-name", PROJECT, "--file", str(base_file()), "--file", str(override)]
