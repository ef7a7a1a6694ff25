"""The README's main job end to end, and the faults a user meets, on the real local stack.

These run before the shared stack of the other stack tests exists (conftest.py orders them
so), so the default ports and the cores are theirs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from lab.results import manifest as manifests
from lab.stack import processes
from lab.stack.processes import Proc
from tests.helpers.lab import gone, lab_cli

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]


# The default profile as nox -s cpu-lab runs it, with shorter load (the same code paths).
SHORT_SCENARIOS = (
    "--set", "scenarios[0].users=4", "--set", "scenarios[0].rounds=3",
    "--set", "scenarios[1].duration=6", "--set", "scenarios[1].rates=[4]",
)  # fmt: skip


def stopped_pids(output: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"stopped \S+ \(pid (\d+)\)", output)]


def test_cycle_brings_up_checks_and_tears_down(engines_installed, tmp_path) -> None:
    with socket.socket() as squatter:  # someone else's server on the first engine port
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", 8000))
        squatter.listen()
        done = lab_cli(
            "cycle", "--profile", "cpu", "--platform", "local", "--out", str(tmp_path / "results"),
            *SHORT_SCENARIOS, state_dir=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    out = done.stdout
    assert "port 8000 is taken: engine-0 uses 8001 instead" in out
    assert "✅ router: streamed chat completion" in out
    assert "✅ routing check (roundrobin): 12 requests over 2 engines" in out
    pids = stopped_pids(out)
    assert len(pids) == 4  # two engines, the router, Prometheus (when installed) or not
    assert not gone(pids)
    assert not (tmp_path / "state.json").exists()
    # The results folder it left: valid against its schema, every scenario measured, a report.
    (folder,) = (tmp_path / "results").iterdir()
    manifest = manifests.read(folder)
    assert manifest.status == "completed"
    assert [s.name for s in manifest.scenarios] == ["routing", "throughput"]
    assert (folder / "routing" / "requests.csv").stat().st_size > 0
    assert "data:image/png;base64," in (folder / "report.html").read_text()


def test_an_engine_that_cannot_start_stops_everything_and_shows_its_log(
    engines_installed, tmp_path, write
) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    profile = write(
        "broken.yaml",
        f"name: broken\nmodel: {{source: {broken}}}\nengine: {{replicas: 2, dtype: float32}}\n",
    )
    done = lab_cli("up", "--profile", str(profile), "--platform", "local", state_dir=tmp_path)
    assert done.returncode == 1
    assert re.search(
        r"❌ engine-\d exited while loading; last lines of .*engine-\d\.log:", done.stdout
    )
    assert "no-such-architecture" in done.stdout  # the engine's own words, from its log
    assert re.search(r"error: engine-\d exited while loading \(log: ", done.stderr)
    cleaned = [line for line in done.stdout.splitlines() if line.startswith("🧹")]
    assert {"engine-0", "engine-1"} == set(re.findall(r"engine-\d", " ".join(cleaned)))
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(broken) in " ".join(p.info["cmdline"] or [])
    ]
    assert not gone(leftovers)
    assert not (tmp_path / "state.json").exists()


def test_ctrl_c_during_up_stops_everything_started(engines_installed, tmp_path) -> None:
    lab = subprocess.Popen(
        [sys.executable, "-m", "lab", "up", "--profile", "cpu", "--platform", "local"],
        env={**os.environ, "LAB_STATE_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state_file = tmp_path / "state.json"

    def both_engines_started() -> bool:
        try:
            return len(json.loads(state_file.read_text())["processes"]) == 2
        except (OSError, ValueError, KeyError):
            return False

    assert processes.wait_until(both_engines_started, timeout=120)
    time.sleep(5)  # let the engines get going and start their workers
    recorded = [Proc.from_json(p) for p in json.loads(state_file.read_text())["processes"]]
    started = [member.pid for proc in recorded for member in processes.members(proc)]
    lab.send_signal(signal.SIGINT)
    out, err = lab.communicate(timeout=60)
    assert lab.returncode == 130, out + err
    assert "interrupted" in err
    assert len(stopped_pids(out)) == 2
    assert processes.wait_until(lambda: not gone(started), timeout=15), gone(started)
    assert not state_file.exists()


def test_down_with_nothing_running_says_so(tmp_path) -> None:
    done = lab_cli("down", state_dir=tmp_path)
    assert done.returncode == 0
    assert "nothing to stop" in done.stdout


def test_smoke_with_nothing_running_is_an_error(tmp_path) -> None:
    done = lab_cli("smoke", state_dir=tmp_path)
    assert done.returncode == 1
    assert "no lab is up here" in done.stderr
