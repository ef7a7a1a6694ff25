"""The web UI (`python -m lab ui`) over simulated engines (lab.sim) behind the real
vllm-router, saved as the lab that is up: no vLLM needed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from lab.config import profile
from lab.platforms.local import platform as local
from lab.sim import SimOptions, running
from lab.stack import processes, state
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.state import State

# Fast enough that a few seconds make a few dozen requests on a busy 2-core machine.
TIMELINE = {"ttft_ms": 30.0, "tpot_ms": 5.0, "max_batch": 8}


@contextlib.contextmanager
def sim_stack(state_dir: Path, engines: int = 2) -> Iterator[State]:
    """Simulated engines behind the real vllm-router (the cpu profile's round-robin), saved as
    the lab that is up in `state_dir`."""
    lab = profile.load("cpu")
    with contextlib.ExitStack() as stack:
        sims = [
            stack.enter_context(running(SimOptions(name=f"engine-{n}", **TIMELINE)))
            for n in range(engines)
        ]
        port, metrics_port = processes.free_port(31080), processes.free_port(31580)
        router = processes.spawn(
            "router",
            local.router_command(lab, [sim.url for sim in sims], port, metrics_port),
            state_dir / "router.log",
        )
        stack.callback(processes.stop, router)
        url = f"http://127.0.0.1:{port}"
        ready = processes.wait_until(lambda: _answers(f"{url}/health"), timeout=30)
        assert ready, processes.tail(router.log)
        current = State(
            platform="local",
            profile=lab.resolved,
            profile_source=lab.source,
            endpoints=Endpoints(
                router=url,
                engines=tuple(Engine(sim.name, sim.url) for sim in sims),
                model=SimOptions().served_model_name,
                routing=lab.router.routing,
                session_key=lab.router.session_key,
            ),
        )
        (state_dir / state.path().name).write_text(json.dumps(current.to_json()))
        yield current


@contextlib.contextmanager
def web_ui(state_dir: Path, results: Path) -> Iterator[tuple[str, list[str]]]:
    """`python -m lab ui` on the lab that is up in `state_dir`: its URL, and (once it has
    ended, on leaving) its output lines."""
    port = processes.free_port(8089)
    ui = subprocess.Popen(
        [sys.executable, "-m", "lab", "ui", "--web-port", str(port), "--out", str(results)],
        env={**os.environ, "LAB_STATE_DIR": str(state_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        assert processes.wait_until(lambda: _answers(url), timeout=60), "web UI did not answer"
        yield url, output
    finally:
        ui.send_signal(signal.SIGTERM)  # as Ctrl-C: the lab stops Locust, which finishes
        out, _ = ui.communicate(timeout=120)
        output += out.splitlines()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
