"""The Compose platform against a fake docker and docker-compose
(tests/helpers/composefakes.py): what it refuses before anything runs, the commands `up` and
`down` run and in which order, dry runs that change nothing, and the engine operations of the
failover and scaling scenarios."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from lab.config import model, profile
from lab.errors import ConfigError, LabError, StepFailed
from lab.load import faults, lifecycle
from lab.platforms.compose import composefile
from lab.platforms.compose import platform as compose
from lab.platforms.compose.platform import ComposePlatform
from lab.stack import fault_control, state
from tests.helpers import composefakes

# Host ports away from the conventional ones (other labs may run on this machine).
PORTS = {"router": 18680, "router_metrics": 18690, "engine": 18600, "prometheus": 18695}


@pytest.fixture
def fakes(tmp_path, monkeypatch) -> Path:
    folder = composefakes.activate(tmp_path, monkeypatch)
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DOCKER_HOST", "unix:///fake.sock")
    return folder


def platform(dry_run: bool = False) -> ComposePlatform:
    return ComposePlatform(dry_run=dry_run, ports=PORTS, ready_timeout=10)


def cpu(*sets: str) -> profile.Profile:
    return profile.load("cpu", ["observability.grafana=true", *sets])


def compose_calls(folder: Path) -> list[list[str]]:
    """Compose calls without the fixed project and file options."""
    out = []
    for call in composefakes.changes(folder):
        if call[0] == "docker-compose":
            args = call[1:]
            assert args[:2] == ["--project-name", "vllm-lab"], call
            out.append(args[6:])
        else:
            out.append(call)
    return out


# --- prerequisites -------------------------------------------------------------------------


def test_no_docker_is_named(fakes, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError) as caught:
        platform().check(cpu())
    assert any("docker is not installed" in p for p in caught.value.problems)


def test_an_unreachable_daemon_is_named_with_where_it_was_asked(fakes, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NO_DAEMON", "1")
    with pytest.raises(ConfigError) as caught:
        platform().check(cpu())
    [problem] = caught.value.problems
    assert "no Docker daemon answers at unix:///fake.sock" in problem
    assert "Cannot connect to the Docker daemon" in problem
    assert composefakes.changes(fakes) == []


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_the_real_docker_cli_with_an_unreachable_docker_host(tmp_path, monkeypatch) -> None:
    host = f"unix://{tmp_path}/nobody-listens.sock"
    monkeypatch.setenv("DOCKER_HOST", host)
    problems = ComposePlatform()._docker_problems()
    assert any(f"no Docker daemon answers at {host}" in p for p in problems), problems


def test_no_compose_tool_is_named(fakes) -> None:
    (fakes / "docker-compose").unlink()
    with pytest.raises(ConfigError) as caught:
        platform().check(cpu())
    [problem] = caught.value.problems
    assert "neither `docker compose` nor docker-compose" in problem
    assert "apt install docker-compose" in problem


def test_versions_are_said_and_compose_v2_preferred(fakes, monkeypatch, capsys) -> None:
    platform().check(cpu())
    assert "Docker 20.10.24 at unix:///fake.sock, docker-compose 1.29.2" in capsys.readouterr().out
    monkeypatch.setenv("FAKE_COMPOSE_V2", "1")
    checked = platform()
    checked.check(cpu())
    assert checked.tool == ["docker", "compose"]
    assert "docker compose 2.24.0" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["engine.gpu=1"], "engine.gpu: the compose platform runs vLLM CPU engines"),
        (["lmcache.enabled=true"], "lmcache.enabled: LMCache needs GPU engines"),
        (["router.routing=kvaware"], "router.routing: 'kvaware' needs LMCache"),
        (
            ["router.implementation=vllm-router", "router.session_key=x-my-session"],
            "router.session_key: vllm-router keys sessions only on these headers",
        ),
        (["engine.api_key_env=LAB_TEST_UNSET_KEY"], "$LAB_TEST_UNSET_KEY is not set"),
    ],
)
def test_profiles_it_cannot_serve_are_refused(fakes, sets, expected) -> None:
    with pytest.raises(ConfigError) as caught:
        platform().check(cpu(*sets))
    assert any(expected in p for p in caught.value.problems), caught.value.problems
    assert composefakes.changes(fakes) == []


def test_lab_images_that_cannot_be_built_are_named_first(fakes, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FAKE_IMAGES", "none")
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(compose.images, "build_problems", lambda: ["debootstrap is missing"])
    with pytest.raises(ConfigError) as caught:
        platform().check(profile.load("compose-local"))
    assert caught.value.problems == ["debootstrap is missing"]


# --- up, status, down ----------------------------------------------------------------------


def test_up_starts_engines_first_then_the_rest_and_down_removes_the_project(fakes, capsys) -> None:
    lab = cpu()
    runner = platform()
    runner.check(lab)
    current = runner.up(lab)
    assert current is not None
    assert compose_calls(fakes) == [
        ["up", "--detach", "--no-color", "engine-0", "engine-1"],
        ["up", "--detach", "--no-color", "router", "prometheus", "grafana"],
    ]
    endpoints = current.endpoints
    assert endpoints.router == "http://127.0.0.1:18680"
    assert [e.url for e in endpoints.engines] == [
        "http://127.0.0.1:18600",
        "http://127.0.0.1:18601",
    ]
    assert endpoints.router_metrics == "http://127.0.0.1:18680/metrics"  # production-stack's
    assert endpoints.prometheus == "http://127.0.0.1:18695"
    assert endpoints.tokenizer == ""  # production-stack's router matches text: chat it gets
    assert state.load() is not None
    override = Path(current.details["compose"]["override"])
    assert override.parent == state.path().parent / "compose"
    assert "engine-1:" in override.read_text()

    assert runner.health(current) == {
        "engine-0": "running (healthy)",
        "engine-1": "running (healthy)",
        "router": "running (healthy)",
        "prometheus": "running (healthy)",
        "grafana": "running (healthy)",
    }
    lines = runner.down(current)
    assert compose_calls(fakes)[-1] == ["down", "--remove-orphans", "--timeout", "10"]
    assert lines == [
        "removed container vllm-lab_engine-0_1",
        "removed container vllm-lab_engine-1_1",
        "removed container vllm-lab_router_1",
        "removed container vllm-lab_prometheus_1",
        "removed container vllm-lab_grafana_1",
        "removed network vllm-lab_default",
    ]
    assert "kept volumes vllm-lab_engine-cache" in capsys.readouterr().out
    assert state.load() is None


def test_down_with_volumes_removes_them(fakes) -> None:
    lab = cpu()
    runner = platform()
    runner.check(lab)
    current = runner.up(lab)
    state.save(current)
    assert lifecycle.down(volumes=True)
    assert compose_calls(fakes)[-1] == ["down", "--remove-orphans", "--timeout", "10", "--volumes"]
    assert runner._volumes() == []


def test_down_refuses_a_compose_command_the_lab_would_not_build(fakes) -> None:
    """The state file only chooses the Compose tool; an altered command line is refused, and
    nothing is run with it."""
    lab = cpu()
    runner = platform()
    runner.check(lab)
    current = runner.up(lab)
    calls = len(composefakes.changes(fakes))
    current.details["compose"]["command"] = ["sh", "-c", "touch /tmp/owned"]
    state.save(current)
    with pytest.raises(ConfigError, match=r"details\.compose\.command is not the lab's own"):
        lifecycle.down()
    assert len(composefakes.changes(fakes)) == calls
    assert state.load() is not None


def test_volumes_on_a_platform_without_volumes_is_refused(fakes) -> None:
    state.save(state.State(platform="local", profile=cpu().resolved, profile_source="cpu"))
    with pytest.raises(ConfigError, match="the local platform keeps no volumes"):
        lifecycle.down(volumes=True)
    assert state.load() is not None


def test_an_engine_that_exits_fails_up_with_its_log_and_nothing_is_left(
    fakes, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("FAKE_EXITS", "engine-1")
    lab = cpu()
    runner = platform()
    runner.check(lab)
    with pytest.raises(StepFailed, match="engine-1 exited"):
        runner.up(lab)
    printed = capsys.readouterr().out
    assert "engine log line 2" in printed
    assert compose_calls(fakes)[-1][0] == "down"
    assert runner.containers() == {}
    assert state.load() is None


def test_another_vllm_lab_project_is_refused_and_left_alone(fakes) -> None:
    (fakes / "containers.json").write_text(
        json.dumps(
            {
                "containers": {"router": {"id": "c1", "state": "running", "status": "Up"}},
                "volumes": [],
            }
        )
    )
    runner = platform()
    runner.check(cpu())
    with pytest.raises(LabError, match="already runs a Compose project named vllm-lab"):
        runner.up(cpu())
    assert composefakes.changes(fakes) == []
    assert "router" in runner.containers()


def test_dry_run_prints_the_rendered_configuration_and_changes_nothing(fakes, capsys) -> None:
    plan = lifecycle.plan(cpu("router.implementation=vllm-router"), "compose")
    printed = capsys.readouterr().out
    assert plan.ports["router"] >= 30080 and plan.ports["engine-1"] >= 8001
    assert f"127.0.0.1:{plan.ports['router']}:8000" in printed  # the ports the file publishes
    assert any(step.startswith("docker-compose --project-name vllm-lab") for step in plan.steps)
    assert composefakes.changes(fakes) == []
    assert not (state.path().parent / "compose").exists()
    assert state.load() is None
    assert "job_name: vllm-lab-engine-service" in printed  # Prometheus' configuration
    assert "engine-1:" in printed and "- --worker-urls" in printed  # the rendered file
    assert "[dry-run] docker-compose --project-name vllm-lab --file" in printed
    assert "up --detach --no-color engine-0 engine-1" in printed
    assert "up --detach --no-color router prometheus grafana" in printed


def test_down_dry_run_changes_nothing(fakes, capsys) -> None:
    lab = cpu()
    runner = platform()
    runner.check(lab)
    state.save(runner.up(lab))
    before = composefakes.changes(fakes)
    assert lifecycle.down(dry_run=True, volumes=True)
    assert composefakes.changes(fakes) == before
    printed = capsys.readouterr().out
    assert "[dry-run] docker-compose --project-name vllm-lab" in printed
    assert "down --remove-orphans --timeout 10 --volumes" in printed
    assert state.load() is not None


def test_a_missing_public_image_is_pulled_and_its_failure_shown(fakes, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_IMAGES", "none")
    lab = cpu("observability.grafana=false")
    runner = platform()
    runner.check(lab)
    with pytest.raises(StepFailed, match="pull access denied"):
        runner.up(lab)
    image = f"{lab.engine.image}:{lab.engine.tag}"
    assert composefakes.changes(fakes) == [["docker", "pull", image]]


# --- engine operations ---------------------------------------------------------------------


@pytest.fixture
def running(fakes) -> tuple[ComposePlatform, state.State]:
    lab = cpu("observability.grafana=false")
    runner = platform()
    runner.check(lab)
    return runner, runner.up(lab)


def test_kill_engine_is_docker_kill_and_restart_starts_it_again(fakes, running) -> None:
    runner, current = running
    said = runner.kill_engine(current, 1)
    assert said == "killed engine-1 (container vllm-lab_engine-1_1)"
    assert composefakes.changes(fakes)[-1] == ["docker", "kill", "c0ffeeengine-1"]
    assert runner.health(current)["engine-1"] == "exited"
    said = runner.restart_engine(current, 1, cpu())
    assert said == "restarted engine-1 (container vllm-lab_engine-1_1) on port 18601"
    assert compose_calls(fakes)[-1] == ["start", "engine-1"]
    assert runner.health(current)["engine-1"] == "running (healthy)"
    with pytest.raises(ConfigError, match="no engine-5 in this lab"):
        runner.kill_engine(current, 5)


def test_scale_with_production_stacks_router_recreates_it(fakes, running) -> None:
    runner, current = running
    lab = cpu("observability.grafana=false")
    marker = len(compose_calls(fakes))
    current = runner.scale(current, 3, lab)
    assert compose_calls(fakes)[marker:] == [
        ["up", "--detach", "--no-color", "--no-deps", "engine-2"],
        ["up", "--detach", "--no-color", "--no-deps", "router"],
        ["kill", "-s", "SIGHUP", "prometheus"],
    ]
    assert [e.name for e in current.endpoints.engines] == ["engine-0", "engine-1", "engine-2"]
    assert current.endpoints.engines[2].url == "http://127.0.0.1:18602"
    override = Path(current.details["compose"]["override"]).read_text()
    assert "http://engine-0:8000,http://engine-1:8000,http://engine-2:8000" in override
    assert "engine-2:8000" in Path(current.details["compose"]["prometheus_config"]).read_text()

    marker = len(compose_calls(fakes))
    current = runner.scale(current, 1, lab)
    assert compose_calls(fakes)[marker:] == [
        ["up", "--detach", "--no-color", "--no-deps", "router"],
        ["docker", "stop", "--time", "10", "c0ffeeengine-1"],
        ["docker", "rm", "c0ffeeengine-1"],
        ["docker", "stop", "--time", "10", "c0ffeeengine-2"],
        ["docker", "rm", "c0ffeeengine-2"],
        ["kill", "-s", "SIGHUP", "prometheus"],
    ]
    assert (
        "--static-backends\n    - http://engine-0:8000\n"
        in Path(current.details["compose"]["override"]).read_text()
    )
    assert [e.name for e in current.endpoints.engines] == ["engine-0"]
    assert state.load().details["compose"]["replicas"] == 1


class FakeRouter(BaseHTTPRequestHandler):
    """vllm-router's worker API as pinned by tests/platforms/test_compose_stack.py."""

    workers: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        url = parse_qs(parts.query)["url"][0]
        if parts.path == "/add_worker":
            if url in self.workers:
                self._answer(400, f"Worker {url} already exists")
                return
            self.workers.append(url)
            self._answer(200, f"Successfully added worker: {url}")
        else:
            if url in self.workers:
                self.workers.remove(url)
            self._answer(200, f"Successfully removed worker: {url}")

    def _answer(self, code: int, text: str) -> None:
        self.send_response(code)
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_router() -> Iterator[str]:
    FakeRouter.workers = ["http://engine-0:8000", "http://engine-1:8000"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRouter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_scale_with_vllm_router_uses_its_worker_api(fakes, fake_router) -> None:
    lab = cpu("observability.grafana=false", "router.implementation=vllm-router")
    runner = platform()
    runner.check(lab)
    current = runner.up(lab)
    assert current.endpoints.tokenizer == str(model.tiny_dir())  # vllm-router: token IDs
    current.endpoints = dataclasses.replace(current.endpoints, router=fake_router)
    marker = len(compose_calls(fakes))
    current = runner.scale(current, 3, lab)
    assert FakeRouter.workers[-1] == "http://engine-2:8000"
    assert ["up", "--detach", "--no-color", "--no-deps", "router"] not in compose_calls(fakes)
    assert compose_calls(fakes)[marker] == ["up", "--detach", "--no-color", "--no-deps", "engine-2"]
    current = runner.scale(current, 2, lab)
    assert FakeRouter.workers == ["http://engine-0:8000", "http://engine-1:8000"]
    assert compose_calls(fakes)[-3:-1] == [
        ["docker", "stop", "--time", "10", "c0ffeeengine-2"],
        ["docker", "rm", "c0ffeeengine-2"],
    ]
    with pytest.raises(ConfigError, match="at least 1"):
        runner.scale(current, 0, lab)


def test_cli_down_has_volumes(fakes, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lab", "down", "--help"], capture_output=True, text=True, check=True
    )
    assert "--volumes" in done.stdout


def test_what_down_removed_is_said_once_per_thing() -> None:
    v1 = (
        "Stopping vllm-lab_router_1 ... \nStopping vllm-lab_router_1 ... done\n"
        "Removing vllm-lab_router_1 ... \nRemoving vllm-lab_router_1 ... done\n"
        "Removing network vllm-lab_default\nRemoving volume vllm-lab_engine-cache\n"
    )
    assert compose.removed(v1) == [
        "removed container vllm-lab_router_1",
        "removed network vllm-lab_default",
        "removed volume vllm-lab_engine-cache",
    ]
    v2 = " Container vllm-lab-router-1  Stopping\n Container vllm-lab-router-1  Removed\n"
    v2 += " Network vllm-lab_default  Removed\n"
    assert compose.removed(v2) == [
        "removed container vllm-lab-router-1",
        "removed network vllm-lab_default",
    ]


def test_the_platform_is_registered() -> None:
    from lab import platforms

    assert isinstance(platforms.get("compose"), ComposePlatform)
    assert composefile.PROJECT == "vllm-lab"


def test_restart_router_recreates_only_the_router_with_the_new_settings(fakes, running) -> None:
    runner, current = running
    engines = {s: c.id for s, c in runner.containers().items() if s.startswith("engine-")}
    marker = len(compose_calls(fakes))
    said = runner.restart_router(current, cpu("observability.grafana=false",
                                              "router.routing=session"))  # fmt: skip
    assert said == "recreated the router (production-stack, session)"
    assert compose_calls(fakes)[marker:] == [
        ["up", "--detach", "--no-color", "--no-deps", "--force-recreate", "router"]
    ]
    assert {s: c.id for s, c in runner.containers().items() if s.startswith("engine-")} == engines
    assert (
        "--routing-logic\n    - session" in Path(current.details["compose"]["override"]).read_text()
    )
    assert current.endpoints.routing == "session" and len(current.endpoints.engines) == 2
    assert state.load().profile["router"]["routing"] == "session"


# --- faults (issue 40) -------------------------------------------------------------------------


def test_faults_hang_and_prometheus_by_docker_pause_and_the_token_stays_out_of_files(
    fakes, tmp_path
) -> None:
    lab = profile.load("faults", ["observability.grafana=false"])
    runner = platform()
    runner.check(lab)
    current = runner.up(lab)
    token = (tmp_path / "state" / fault_control.FILE).read_text()
    assert len(token) >= 24 and (tmp_path / "state" / fault_control.FILE).stat().st_mode & 0o77 == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != fault_control.FILE]
    rendered = "".join(p.read_text(errors="replace") for p in written)
    # The Compose file names the variable; its value reaches docker-compose's environment only.
    assert "LAB_FAULT_TOKEN" in rendered and token not in rendered
    events = {name: act for _, name, act in faults.events(lab.scenarios[0], runner, current, lab)}
    for name in ("hang engine-1", "hang engine-1 end", "prometheus_down", "prometheus_down end"):
        events[name]()
    assert composefakes.changes(fakes)[-4:] == [
        ["docker", "pause", "c0ffeeengine-1"],
        ["docker", "unpause", "c0ffeeengine-1"],
        ["docker", "pause", "c0ffeeprometheus"],
        ["docker", "unpause", "c0ffeeprometheus"],
    ]
