"""Where a running stack answers: what every platform hands to smoke, checks and scenarios.

The one place Endpoints are built, one function per kind of platform: what the profile says
(model, routing, session key, API key variable) with where the platform put things.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.config.profile import Profile


@dataclass(frozen=True)
class Engine:
    name: str
    url: str  # base URL; the OpenAI API is under /v1, metrics under /metrics
    # A Prometheus holding this engine's series, when this machine cannot reach the engine
    # itself (attach): its counters are read there (lab.stack.promql), and nothing asks it.
    prometheus: str = ""

    @property
    def metrics(self) -> str:
        return f"{self.url}/metrics"


@dataclass(frozen=True)
class Endpoints:
    router: str  # base URL of the router (OpenAI API under /v1)
    engines: tuple[Engine, ...]
    model: str  # served model name
    routing: str  # the profile's routing logic (roundrobin, session, prefixaware, kvaware)
    session_key: str
    router_metrics: str = ""  # URL of the router's Prometheus metrics, if it has them
    prometheus: str = ""  # URL of a Prometheus scraping the stack, if any
    grafana: str = ""
    api_key_env: str = ""  # environment variable holding the API key, if the engines need one
    # Set where the router routes on token IDs (vllm-router): the routing scenario then sends
    # conversations as token IDs made with this tokenizer (a folder or a Hugging Face id).
    tokenizer: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    # The engines are lab.sim's simulated ones (tests and benchmarks), never vLLM.
    simulated: bool = False
    # Others may send requests too (a stack the lab did not start): the engines' counters then
    # count theirs, and every figure built from them must first show that they did not.
    shared: bool = False

    @property
    def api_key(self) -> str:
        """The key clients send ('EMPTY' when the engines need none, as the openai client wants)."""
        return (os.environ.get(self.api_key_env) if self.api_key_env else None) or "EMPTY"

    def engine(self, name: str) -> Engine:
        for engine in self.engines:
            if engine.name == name:
                return engine
        known = ", ".join(e.name for e in self.engines) or "none"
        raise KeyError(f"no engine {name} in this stack (it has {known})")

    def with_engines(self, engines: Sequence[Engine]) -> Endpoints:
        return dataclasses.replace(self, engines=tuple(engines))

    def with_routing(self, routing: str, session_key: str) -> Endpoints:
        return dataclasses.replace(self, routing=routing, session_key=session_key)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Endpoints:
        engines = tuple(Engine(**engine) for engine in data["engines"])
        return cls(**{**data, "engines": engines, "notes": tuple(data.get("notes", ()))})


def build(profile: Profile, router: str, engines: Sequence[Engine], **found: Any) -> Endpoints:
    """What the profile says, with what the platform found (router_metrics, prometheus,
    grafana, tokenizer, notes, simulated)."""
    return Endpoints(
        router=router,
        engines=tuple(engines),
        model=profile.model.name,
        routing=profile.router.routing,
        session_key=profile.router.session_key,
        api_key_env=profile.engine.api_key_env,
        **found,
    )


def loopback(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def local(
    profile: Profile,
    engines: Sequence[Engine],
    router_port: int,
    metrics_port: int,
    prometheus: str,
    weights: str,
) -> Endpoints:
    """The local platform: every process on loopback; vllm-router routes on token IDs made with
    the engines' tokenizer (`weights`, lab.inproc.chat_tokens)."""
    return build(
        profile,
        loopback(router_port),
        engines,
        router_metrics=f"{loopback(metrics_port)}/metrics",
        prometheus=prometheus,
        tokenizer=weights,
        simulated=profile.engine.simulated is not None,
    )


def compose(
    profile: Profile,
    engines: Sequence[Engine],
    ports: dict[str, int],
    weights: str,
    project: str,
) -> Endpoints:
    """The Compose platform: published ports on loopback (`ports`: router, router_metrics,
    prometheus, grafana). vllm-router routes on token IDs made with `weights`;
    production-stack's router on text, and serves its metrics on its own port."""
    router = loopback(ports["router"])
    vllm_router = profile.router.implementation == "vllm-router"
    observability = profile.observability
    return build(
        profile,
        router,
        engines,
        router_metrics=(
            f"{loopback(ports['router_metrics'])}/metrics" if vllm_router else f"{router}/metrics"
        ),
        prometheus=loopback(ports["prometheus"]) if observability.prometheus else "",
        grafana=(
            loopback(ports["grafana"]) if observability.prometheus and observability.grafana else ""
        ),
        tokenizer=weights if vllm_router else "",
        notes=(
            f"Compose project {project}: python -m lab status, or docker-compose -p {project} ps",
        ),
    )


def kube(profile: Profile, router: str, engines: Sequence[Engine], details: dict) -> Endpoints:
    """A Kubernetes platform: the chart's router (its metrics on its own port), engines through
    port-forwards."""
    return build(
        profile,
        router,
        engines,
        router_metrics=f"{router}/metrics",
        notes=(
            f"release {details['release']} in namespace {details['namespace']} "
            f"(context {details['context']})",
            "engines are reached through a kubectl port-forward to each pod",
            "python -m lab monitor [--port-forward]: Grafana and Prometheus",
        ),
    )
