"""The Compose platform for real: a Docker daemon of the test's own (its socket and data root
in a temporary folder, stopped afterwards), the lab's images built or imported from the cache,
the compose-local lab up, smoke-tested, its routing checked, its scenarios run, an engine
killed and restarted, the engines scaled down and up through vllm-router's worker API, and
nothing of the project left behind.

The daemon runs without iptables, IP forwarding or a default bridge: containers reach each
other on the project's network and the host reaches them on 127.0.0.1, nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from lab.config import profile
from lab.platforms.compose.platform import PROJECT_LABEL, ComposePlatform
from lab.stack import prometheus, routing_check, smoke, state

pytestmark = pytest.mark.docker

# .ci/run sets this: there the real Compose path is a failure when missing, never a skip.
REQUIRED = os.environ.get("LAB_DOCKER_TESTS") == "required"
# Host ports away from the conventional ones another lab on this machine may hold.
PORTS = {
    "router": 18780,
    "router_metrics": 18790,
    "engine": 18700,
    "prometheus": 18795,
    "grafana": 18796,
}
SETS = ["observability.grafana=false"]  # Grafana has no image here (no registry)


def _needs(reason: str) -> None:
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory) -> Iterator[str]:
    """A Docker daemon of this test's own; afterwards, no process or mount of it is left."""
    for tool in ("dockerd", "docker", "docker-compose", "debootstrap"):
        if shutil.which(tool) is None:
            _needs(f"needs {tool} (Debian: apt install docker.io docker-compose debootstrap)")
    if os.geteuid() != 0:
        _needs("needs root: dockerd, and debootstrap for the lab's images")
    root = tmp_path_factory.mktemp("dockerd")
    host = f"unix://{root}/docker.sock"
    log = (root / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--host",
            host,
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "docker.pid"),
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--bridge=none",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(host):
            assert daemon.poll() is None, (root / "dockerd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dockerd did not answer in 60 s"
            time.sleep(0.5)
        yield host
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=10)
        log.close()
        left = _processes_under(root)
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()
        mounts = [
            line for line in Path("/proc/mounts").read_text().splitlines() if str(root) in line
        ]
        shutil.rmtree(root / "data", ignore_errors=True)
        assert not left, f"left running: {[p.info['cmdline'] for p in left]}"
        assert not mounts, f"left mounted: {mounts}"


def _answers(host: str) -> bool:
    done = subprocess.run(
        ["docker", "--host", host, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0


def _processes_under(root: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(str(root) in part for part in process.info["cmdline"] or []):
                found.append(process)
    return found


def _project(kind: str) -> list[str]:
    """The lab project's containers, networks or volumes on the test's daemon."""
    listing = {
        "containers": ["docker", "ps", "--all", "--quiet"],
        "networks": ["docker", "network", "ls", "--quiet"],
        "volumes": ["docker", "volume", "ls", "--quiet"],
    }[kind]
    done = subprocess.run(
        [*listing, "--filter", PROJECT_LABEL], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def _workers(router: str) -> list[str]:
    """The router's workers, sorted (it lists them in no stable order)."""
    return sorted(httpx.get(f"{router}/list_workers", timeout=10).json()["urls"])


def test_the_compose_lab_for_real(dockerd, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", dockerd)
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    lab = profile.load("compose-local", SETS)
    platform = ComposePlatform(ports=PORTS)
    timings: dict[str, float] = {}
    began = time.monotonic()
    platform.check(lab)
    with state.locked():
        current = platform.up(lab)
    timings["up"] = time.monotonic() - began
    try:
        endpoints = current.endpoints
        assert [e.name for e in endpoints.engines] == ["engine-0", "engine-1"]
        smoke.run(endpoints)
        routing_check.run(endpoints)
        _prometheus_scrapes_everything(endpoints)
        _scenarios_run(tmp_path, timings)
        _pin_vllm_router_worker_api(endpoints.router)

        began = time.monotonic()
        assert platform.kill_engine(current, 1).startswith("killed engine-1 (container ")
        assert platform.health(current)["engine-1"].startswith("exited")
        assert platform.restart_engine(current, 1, lab).startswith("restarted engine-1")
        assert platform.health(current)["engine-1"] == "running (healthy)"
        smoke.run(current.endpoints)
        timings["kill and restart"] = time.monotonic() - began

        began = time.monotonic()
        current = platform.scale(current, 1, lab)
        assert _workers(endpoints.router) == ["http://engine-0:8000"]
        assert "engine-1" not in platform.containers()
        current = platform.scale(current, 2, lab)
        assert _workers(endpoints.router) == ["http://engine-0:8000", "http://engine-1:8000"]
        routing_check.run(current.endpoints)  # round robin over both again
        timings["scale 2 -> 1 -> 2"] = time.monotonic() - began
    finally:
        began = time.monotonic()
        with state.locked():
            platform.down(state.load() or current, volumes=True)
        timings["down"] = time.monotonic() - began
        print(f"\ncompose lab timings: {timings}", file=sys.stderr)
    assert _project("containers") == []
    assert _project("networks") == []
    assert _project("volumes") == []
    assert state.load() is None


def _prometheus_scrapes_everything(endpoints) -> None:  # type: ignore[no-untyped-def]
    """Every engine and the router are Prometheus targets, and up."""
    deadline = time.monotonic() + 60
    while True:
        health = prometheus.targets(endpoints.prometheus)
        if len(health) == 3 and set(health.values()) == {"up"}:
            break
        assert time.monotonic() < deadline, health
        time.sleep(2)
    assert sorted(health) == [
        "http://engine-0:8000/metrics",
        "http://engine-1:8000/metrics",
        "http://router:29000/metrics",
    ]


def _scenarios_run(tmp_path: Path, timings: dict[str, float]) -> None:
    """The profile's quick scenarios, as a user runs them (`python -m lab run`)."""
    began = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab",
            "run",
            "--profile",
            "compose-local",
            *[arg for item in SETS for arg in ("--set", item)],
            "--out",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [folder] = (tmp_path / "results").iterdir()
    assert (folder / "manifest.json").exists()
    timings["scenarios"] = time.monotonic() - began


def _pin_vllm_router_worker_api(router: str) -> None:
    """What vllm-router 0.1.17's worker endpoints do (compose_engines.py relies on it)."""
    assert _workers(router) == ["http://engine-0:8000", "http://engine-1:8000"]
    workers = httpx.get(f"{router}/workers", timeout=10).json()
    assert sorted(w["url"] for w in workers["workers"]) == _workers(router)
    assert all(w["is_healthy"] for w in workers["workers"])
    again = httpx.post(f"{router}/add_worker", params={"url": "http://engine-0:8000"}, timeout=30)
    assert again.status_code == 400
    assert "already exists" in again.text
    unknown = httpx.post(f"{router}/remove_worker", params={"url": "http://nowhere:1"}, timeout=30)
    assert unknown.status_code == 200  # an unknown worker is not an error
    body = httpx.post(f"{router}/add_worker", json={"url": "http://engine-0:8000"}, timeout=30)
    assert body.status_code == 400  # the URL travels in the query string only
    assert _workers(router) == ["http://engine-0:8000", "http://engine-1:8000"]
