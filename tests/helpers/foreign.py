"""A stack the test starts itself, not the lab: simulated engines (lab.sim) behind the real
vllm-router, for the attach platform to find at its URLs. Its processes' PIDs and start times
let a test show that nothing the lab did touched them."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil

from lab.config import commandlines, profile
from lab.sim import process
from lab.sim.options import SimOptions
from lab.stack import processes
from tests.helpers.lab import port_shift
from tests.helpers.simstack import needs_router


@dataclass(frozen=True)
class Foreign:
    router: str
    engines: tuple[str, ...]
    pids: tuple[int, ...]
    router_metrics: str = ""  # the router's --prometheus-port, as a base URL

    def identities(self) -> list[tuple[int, float]]:
        """(PID, start time) of each process; raises if one is gone."""
        return [(pid, psutil.Process(pid).create_time()) for pid in self.pids]


@contextlib.contextmanager
def foreign_stack(
    engines: int = 2, ttft_ms: float = 5.0, tpot_ms: float = 5.0
) -> Iterator[Foreign]:
    needs_router()
    options = SimOptions(ttft_ms=ttft_ms, tpot_ms=tpot_ms)
    with contextlib.ExitStack() as stack:
        sims = [stack.enter_context(process.running(options)) for _ in range(engines)]
        port = processes.free_port(18100 + port_shift())  # each xdist worker its own range
        metrics = processes.free_port(port + 1, {port})
        command = commandlines.router_command(
            profile.load("cpu"), [sim.url for sim in sims], port, metrics
        )
        router = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(process.stop, router)
        url = f"http://127.0.0.1:{port}"
        _wait_serving(url, len(sims))
        pids = (*(s.pid for s in sims), router.pid)
        yield Foreign(url, tuple(sim.url for sim in sims), pids, f"http://127.0.0.1:{metrics}")


def _wait_serving(url: str, engines: int, timeout: float = 30.0) -> None:
    """Until the router answers a completion (its workers found healthy)."""
    deadline = time.monotonic() + timeout
    body = {"model": "sim", "prompt": "hello", "max_tokens": 1}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            models = httpx.get(f"{url}/v1/models", timeout=2).json()
            body["model"] = models["data"][0]["id"]
            if httpx.post(f"{url}/v1/completions", json=body, timeout=5).is_success:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the test's own router at {url} did not serve within {timeout} s")
