from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import psutil
import pytest

from lab.config import profile
from lab.errors import ConfigError, LabError
from lab.load import lifecycle
from lab.stack import processes, state
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.state import State
from tests.helpers.lab import lab_main
from tests.stack.test_processes import OTHER_BOOT, left_alone, pair


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))


def sample_state(procs) -> State:
    return State(
        platform="local",
        profile={"name": "cpu"},
        profile_source="profiles/cpu.yaml",
        endpoints=Endpoints(
            router="http://127.0.0.1:30080",
            engines=(Engine("engine-0", "http://127.0.0.1:8000"),),
            model="tiny-llama",
            routing="roundrobin",
            session_key="x-user-id",
        ),
        processes=procs,
    )


def test_state_round_trips(tmp_path) -> None:
    proc = processes.Proc("engine-0", 1, 2.0, "log", ("a", "b"), 8000, {"k": "v"})
    state.save(sample_state([proc]))
    loaded = state.load()
    assert loaded.to_json() == sample_state([proc]).to_json() | {"created": loaded.created}
    assert loaded.endpoints.engines[0].metrics == "http://127.0.0.1:8000/metrics"


def test_a_stale_state_file_is_cleared_not_obeyed(tmp_path) -> None:
    dead = processes.Proc("engine-0", 999999, 1.0, "log", ("x",))
    state.save(sample_state([dead]))
    lifecycle._refuse_twins()
    assert state.load() is None


def test_a_kubernetes_lab_with_dead_port_forwards_is_still_up(tmp_path) -> None:
    dead = processes.Proc("forward-router", 999999, 1.0, "log", ("kubectl",))
    kube = sample_state([dead])
    kube.platform = "kind"
    kube.profile = profile.load("cpu").resolved
    kube.details = {
        **{"context": "kind-vllm-lab", "namespace": "vllm-lab", "release": "vllm"},
        **{"engine": "tiny-llama", "replicas": 1, "created": {}, "engines": {}},
    }
    state.save(kube)
    with pytest.raises(LabError, match="a lab is already up here"):
        lifecycle._refuse_twins()
    assert state.load() is not None


def test_a_live_lab_refuses_a_twin(tmp_path) -> None:
    proc = processes.spawn(
        "engine-0", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "e.log"
    )
    try:
        state.save(sample_state([proc]))
        with pytest.raises(LabError, match="a lab is already up here"):
            lifecycle._refuse_twins()
    finally:
        processes.stop(proc)


def test_concurrent_up_or_down_is_refused() -> None:
    with (
        state.locked(),
        pytest.raises(LabError, match="another `up` or `down` is running"),
        state.locked(),
    ):
        pass


def test_unreadable_state_is_named(tmp_path) -> None:
    state.path().write_text("{not json")
    with pytest.raises(LabError, match=r"can use \(unreadable: not valid JSON \(line 1, column 2"):
        state.load()


def test_a_dry_run_down_stops_nothing(tmp_path) -> None:
    from lab.platforms.local.platform import LocalPlatform

    proc = processes.spawn("engine-0", [sys.executable, "-c", "import time; time.sleep(60)"],
                           tmp_path / "e.log")  # fmt: skip
    try:
        lab = sample_state([proc])
        state.save(lab)
        lines = LocalPlatform(dry_run=True).down(lab)
        assert lines == [f"[dry-run] would stop engine-0 (pid {proc.pid})"]
        assert processes.alive(proc) and state.load() is not None
    finally:
        processes.stop(proc)


def listing(folder) -> dict[str, bytes]:
    return {str(p): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


def test_read_only_commands_write_nothing_not_even_a_lock(tmp_path) -> None:
    from lab.cli import main

    state.save(sample_state([processes.Proc("engine-0", 999999, 1.0, "log", ("x",))]))
    before = listing(tmp_path)
    assert main(["down", "--dry-run"]) == 0
    assert main(["status"]) in (0, 1)  # the engine is down: status says so
    assert main(["monitor"]) == 0
    assert listing(tmp_path) == before and not (tmp_path / "lock").exists()


def test_down_with_nothing_up_makes_no_state_folder(tmp_path, monkeypatch) -> None:
    from lab.cli import main

    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "never"))
    assert main(["down"]) == 0 and main(["down", "--dry-run"]) == 0
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00\xff\xfe binary", "unreadable"),
        (b'["a", "list"]', "(top level): ['a', 'list'] is not of type 'object'"),
        (b'{"platform": "local"}', "is a required property (and 4 more problems)"),
        (b'{"platform": "kind", "profile": {"name": "x"}, "profile_source": "x", "created": 0, '
         b'"processes": [], "details": {}}', "details: 'context' is a required property"),
        (b'{"platform": "local", "profile": {"name": "x"}, "profile_source": "x", "created": 0, '
         b'"processes": [{"name": "e", "pid": "1", "started": 0, "log": "", "cmd": []}], '
         b'"details": {}}', "processes[0].pid: '1' is not of type 'integer'"),
    ],
)  # fmt: skip
def test_a_broken_state_file_is_named_with_what_to_do(tmp_path, content, expected) -> None:
    state.path().write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        state.load()
    (message,) = exc.value.problems
    assert message.startswith(f"{state.path()}: not a state file this lab can use")
    assert expected in message
    assert message.endswith("remove it if no lab started from here still runs")


# --- down across boots ------------------------------------------------------------------------


def test_within_one_boot_down_stops_a_killed_engines_orphaned_group(tmp_path) -> None:
    """vLLM's engine core outlives a hard kill of its API server: `down` must still stop it."""
    engine = pair(tmp_path)
    core = next(p for p in processes.members(engine) if p.pid != engine.pid)
    state.save(sample_state([engine]))
    assert processes.kill(engine)
    os.waitpid(engine.pid, 0)  # reaped: only the group's ID is left of the API server
    done = lab_main("down", state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"stopped pair (pid {engine.pid})" in done.stdout
    assert processes.wait_until(lambda: not core.is_running() or core.status() == "zombie", 5)
    assert state.load() is None


def test_down_after_a_reboot_signals_nothing_and_removes_the_state(tmp_path) -> None:
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        found = psutil.Process(stranger.pid)
        old = processes.Proc("engine-0", stranger.pid, found.create_time(), "log", ("x",))
        state.save(sample_state([dataclasses.replace(old, boot_id=OTHER_BOOT)]))
        said = f"engine-0 (pid {stranger.pid}) ended with an earlier boot of this machine"
        planned = lab_main("down", "--dry-run", state_dir=tmp_path)
        assert planned.returncode == 0 and f"[dry-run] {said}: left alone" in planned.stdout
        done = lab_main("down", state_dir=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"{said}: left alone" in done.stdout
        assert left_alone(found) and state.load() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_state_with_a_start_time_that_is_no_number_is_refused_and_obeyed_in_nothing(
    tmp_path,
) -> None:
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        found = psutil.Process(stranger.pid)
        state.save(sample_state([processes.Proc("engine-0", stranger.pid, 1.0, "log", ("x",))]))
        text = state.path().read_text().replace('"started": 1.0', '"started": NaN')
        state.path().write_text(text)
        done = lab_main("down", state_dir=tmp_path)
        assert done.returncode == 2
        assert done.stderr.strip() == (
            f"error: {state.path()}: not a state file this lab can use (unreadable: "
            "processes[0].started: nan is not a finite number): remove it if no lab started from "
            "here still runs"
        )
        assert left_alone(found) and state.path().read_text() == text
    finally:
        stranger.kill()
        stranger.wait()
