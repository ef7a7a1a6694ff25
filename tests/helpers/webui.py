"""The web UI (`python -m lab ui`) as a user runs it, on the lab that is up in a state
directory (in tests, simulated engines behind the real vllm-router: tests.helpers.simstack)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from lab.stack import processes
from tests.helpers.lab import port_shift

# Slow enough to stream like an engine, fast enough for a few dozen requests in seconds.
SIMULATED = "engine.simulated={ttft_ms: 30, tpot_ms: 5, max_batch: 8}"


@contextlib.contextmanager
def web_ui(state_dir: Path, results: Path) -> Iterator[tuple[str, list[str]]]:
    """`python -m lab ui` on the lab that is up in `state_dir`: its URL, and (once it has
    ended, on leaving) its output lines."""
    port = processes.free_port(8089 + port_shift())
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
