"""A second real router over a shared stack's engines, and the routing scenario behind one."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx

from lab.config import commandlines, profile
from lab.load import scenarios
from lab.stack import processes, state
from lab.stack.endpoints import Endpoints
from lab.stack.metrics import by_label
from lab.stack.state import State
from tests.helpers.lab import port_shift


@contextlib.contextmanager
def extra_router(current: State, routing: str) -> Iterator[Endpoints]:
    """A second real router over the shared engines, with another routing logic."""
    endpoints = current.endpoints
    assert endpoints is not None
    lab = profile.load("cpu", [f"router.routing={routing}"])
    port = processes.free_port(31000 + port_shift())
    metrics = processes.free_port(31500 + port_shift())
    proc = processes.spawn(
        f"router-{routing}",
        commandlines.router_command(lab, [e.url for e in endpoints.engines], port, metrics),
        Path(state.logs_dir()) / f"router-{routing}.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        ready = processes.wait_until(lambda: _answers(f"{url}/health"), timeout=30)
        assert ready, processes.tail(proc.log)
        yield Endpoints(
            router=url,
            engines=endpoints.engines,
            model=endpoints.model,
            routing=routing,
            session_key=lab.router.session_key,
            router_metrics=f"http://127.0.0.1:{metrics}/metrics",
            tokenizer=endpoints.tokenizer,
        )
    finally:
        processes.stop(proc)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclasses.dataclass(frozen=True)
class RoutingRun:
    folder: Path  # the results folder of the run
    decisions: dict[str, float]  # the router's own count of prefix-routing decisions, by outcome


def routing_run(current: State, routing: str, base: Path) -> RoutingRun:
    """The cpu profile's routing scenario behind a router of this routing logic, over the
    shared stack's engines. Each run draws fresh prompts (a new seed), so it never finds in the
    engines' prefix caches what the run before it left: only the routing differs."""
    lab = profile.load("cpu", [f"router.routing={routing}"])
    with extra_router(current, routing) as endpoints:
        folder = scenarios.run(
            lab, dataclasses.replace(current, endpoints=endpoints), ["routing"], base
        )
        decisions = by_label(
            endpoints.router_metrics, "vllm_router_prefix_routing_decisions_total", "outcome"
        )
    return RoutingRun(folder, decisions)
