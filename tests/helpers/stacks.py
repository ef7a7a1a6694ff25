"""Routers for tests: a second real router over a shared stack's engines, and simulated engines
(lab.sim) behind the real vllm-router, with a known timeline, for the fast tier."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lab.config import profile
from lab.platforms.local import platform as local
from lab.sim import SimOptions, running
from lab.stack import processes, state
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.state import State


@contextlib.contextmanager
def extra_router(current: State, routing: str) -> Iterator[Endpoints]:
    """A second real router over the shared engines, with another routing logic."""
    endpoints = current.endpoints
    assert endpoints is not None
    lab = profile.load("cpu", [f"router.routing={routing}"])
    port = processes.free_port(31000)
    metrics = processes.free_port(31500)
    proc = processes.spawn(
        f"router-{routing}",
        local.router_command(lab, [e.url for e in endpoints.engines], port, metrics),
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


def need_router() -> None:
    """Skip without the vllm-router binary (the engine extra); fail where nox -s tests wants
    every test to run."""
    if local.router_binary() is None:
        reason = "needs vllm-router (the engine extra; nox -s tests installs it)"
        if os.environ.get("LAB_STACK_TESTS") == "required":
            pytest.fail(reason)
        pytest.skip(reason)


@contextlib.contextmanager
def sim_stack(
    engines: list[SimOptions], logs: Path, routing: str = "roundrobin"
) -> Iterator[State]:
    """These simulated engines behind a vllm-router of this routing logic, started as the local
    platform starts it, as a lab State."""
    need_router()
    lab = profile.load("cpu", [f"router.routing={routing}"])
    with contextlib.ExitStack() as stack:
        sims = [stack.enter_context(running(options)) for options in engines]
        port, metrics = processes.free_port(32000), processes.free_port(32500)
        command = local.router_command(lab, [sim.url for sim in sims], port, metrics)
        router = processes.spawn("router", command, logs / "router.log")
        stack.callback(processes.stop, router)
        url = f"http://127.0.0.1:{port}"
        ready = processes.wait_until(lambda: _answers(f"{url}/health"), timeout=30)
        assert ready, processes.tail(router.log)
        endpoints = Endpoints(
            router=url,
            engines=tuple(Engine(sim.name, sim.url) for sim in sims),
            model=engines[0].served_model_name,
            routing=routing,
            session_key=lab.router.session_key,
            router_metrics=f"http://127.0.0.1:{metrics}/metrics",
        )
        yield State("local", lab.resolved, "sim", endpoints=endpoints)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
