"""A second real router over a shared stack's engines."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from lab.config import commandlines, profile
from lab.stack import processes, state
from lab.stack.endpoints import Endpoints
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
