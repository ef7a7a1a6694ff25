"""The attach platform on a stack the test started itself (simulated engines behind the real
vllm-router): checked, smoke-tested, measured and forgotten, and never touched: every process
the test started keeps its PID and start time. The token is in no file the lab wrote."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from lab.errors import StepFailed
from tests.helpers.fakehttp import answering, models, page
from tests.helpers.foreign import Foreign, foreign_stack
from tests.helpers.lab import lab_cli

TOKEN = "tok-" + "Zq9" * 12  # what the test's token looks like; it must never be written
SHORT = ("--set", "scenarios[1].duration=3", "--set", "scenarios[1].concurrency=[2]",
         "--set", "scenarios[1].rates=[]", "--scenario", "throughput")  # fmt: skip


@pytest.fixture(scope="module")
def stack() -> Iterator[Foreign]:
    with foreign_stack() as started:
        yield started


def engines(stack: Foreign) -> tuple[str, str]:
    return "--set", "target.engines=[" + ",".join(stack.engines) + "]"


def written(*roots: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()}


def test_a_cycle_measures_the_stack_and_leaves_every_process_as_it_was(
    stack: Foreign, tmp_path
) -> None:
    before = stack.identities()
    lab = tmp_path / ".lab"
    env = {"LAB_ATTACH_TOKEN": TOKEN}
    done = lab_cli("cycle", "--profile", "attach", "--target", stack.router, *engines(stack),
                   "--set", "target.api_key_env=LAB_ATTACH_TOKEN", "--keep", *SHORT,
                   state_dir=lab, cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "routing check (roundrobin): 12 requests over 2 engines: engine-0 6, engine-1 6" in (
        done.stdout
    )
    assert "✅ throughput/c2:" in done.stdout
    # Kept up: the state, its logs, the results and the report are all there to search.
    files = written(tmp_path)
    assert (lab / "state.json") in files and any(p.name == "report.html" for p in files)
    assert [p for p, content in files.items() if TOKEN.encode() in content] == []
    manifest = json.loads(next(p for p in files if p.name == "manifest.json").read_text())
    recorded = manifest["endpoints"]
    assert (manifest["platform"], recorded["router"], recorded["engines"]) == (
        "attach", stack.router, list(stack.engines))  # fmt: skip
    assert recorded["model"] == "lab:tiny-llama" and recorded["shared"] is True
    assert "served: lab:tiny-llama; /version: " in " ".join(recorded["notes"])
    assert (
        "router: vllm-router (its /workers answers; router metrics not given)"
        in (recorded["notes"])
    )
    assert manifest["profile"]["target"]["router"] == stack.router
    refused = lab_cli("restart-router", "--profile", "attach", state_dir=lab, cwd=tmp_path)
    assert refused.returncode == 2
    assert "the attach platform cannot restart the router: the lab did not start this stack" in (
        refused.stderr
    )
    down = lab_cli("down", state_dir=lab, cwd=tmp_path)
    assert down.returncode == 0 and "nothing there was stopped or changed" in down.stdout
    assert not (lab / "state.json").exists()
    assert stack.identities() == before


def test_without_engines_the_routing_check_is_na_and_the_cycle_passes(
    stack: Foreign, tmp_path
) -> None:
    done = lab_cli("cycle", "--profile", "attach", "--target", stack.router, *SHORT,
                   state_dir=tmp_path / ".lab", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "routing check: n/a: no engines' counters to read (name the engines' URLs in " \
        "target.engines)" in done.stdout  # fmt: skip


@contextlib.contextmanager
def others_sending(router: str) -> Iterator[None]:
    """Another user of the stack: completions, one after another, until the block ends."""
    stop = threading.Event()
    model = httpx.get(f"{router}/v1/models").json()["data"][0]["id"]

    def send() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                body = {"model": model, "prompt": "someone else", "max_tokens": 4}
                with contextlib.suppress(httpx.HTTPError):
                    client.post(f"{router}/v1/completions", json=body)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join(15)


def test_foreign_traffic_during_a_level_makes_engine_counter_figures_na(
    stack: Foreign, tmp_path
) -> None:
    """The routing check is n/a, not a wrong verdict; client-side figures stay, the
    prefix-cache hit rate, from the engines' counters, goes."""
    lab = tmp_path / ".lab"
    with others_sending(stack.router):
        done = lab_cli("cycle", "--profile", "attach", "--target", stack.router, *engines(stack),
                       *SHORT, state_dir=lab, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "routing check: n/a: foreign traffic" in done.stdout
    (summary,) = tmp_path.glob("results/*/throughput/summary.json")
    level = json.loads(summary.read_text())["levels"]["c2"]
    assert level["foreign_traffic"].startswith("n/a: foreign traffic: the engines served")
    assert level["prefix_cache_hit_rate"] is None
    assert level["completed"] > 0 and level["p50_ttft_ms"] is not None


def test_load_beyond_this_machine_is_announced_with_its_planned_peak() -> None:
    from lab.config import profile
    from lab.platforms.attach.platform import announcement

    lab = profile.load("attach", ["target.router=http://10.0.0.9:8000"])
    assert announcement(lab, "http://10.0.0.9:8000") == (
        "load goes to http://10.0.0.9:8000, not this machine: planned peak 4 requests/s, "
        "12 concurrent users (Ctrl-C stops it)"
    )


def test_the_dry_run_reads_only_and_writes_nothing(tmp_path) -> None:
    done = lab_cli("up", "--profile", "attach", "--target", "http://10.0.0.9:8000", "--set",
                   "target.engines=[http://10.0.0.9:8001]", "--dry-run",
                   state_dir=tmp_path / ".lab", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stdout.splitlines() if line.startswith("[dry-run]")]
    assert steps[:3] == [
        "[dry-run] read (GET) http://10.0.0.9:8000/v1/models, /version and /metrics",
        "[dry-run] read (GET) http://10.0.0.9:8001/v1/models and /metrics",
        "[dry-run] start nothing; write the state file with these endpoints",
    ]
    assert list(tmp_path.iterdir()) == []


def test_the_router_kind_is_told_and_its_own_metrics_read_where_it_serves_them(
    stack: Foreign, tmp_path
) -> None:
    """vllm-router by its /workers (its main port's /metrics passes an engine's page through);
    its own series from target.router_metrics; production-stack's router by its own series."""
    from lab.platforms.attach import probe, target
    from lab.stack.metrics import parse

    def found(router: str, **block: object) -> probe.Found:
        chosen = target.read({"target": {"router": router, **block}}, "p")
        return probe.probe(chosen, probe.DEFAULT_MODEL)

    plain = found(stack.router)
    assert (plain.router_kind.name, plain.router_kind.metrics) == ("vllm-router", "")
    assert "vllm:" in httpx.get(f"{stack.router}/metrics").text  # an engine's, passed through
    own = found(stack.router, router_metrics=stack.router_metrics).router_kind
    assert own.metrics == f"{stack.router_metrics}/metrics"
    assert any(name.startswith("vllm_router_") for name in parse(httpx.get(own.metrics).text))
    with pytest.raises(StepFailed, match="holds no vllm_router_ series"):
        found(stack.router, router_metrics=stack.engines[0])
    stack_router = answering({
        "/v1/models": models("m"),
        "/metrics": page(200, 'vllm:healthy_pods_total{server="e0"} 2\nvllm:current_qps 0\n'),
    })  # fmt: skip
    assert found(stack_router).router_kind.name == "production-stack router"
    assert found(answering({"/v1/models": models("m")})).router_kind.name == "unknown"


@pytest.mark.slow  # about 12 s
def test_ctrl_c_stops_all_load_within_two_seconds_and_keeps_what_was_measured(
    stack: Foreign, tmp_path
) -> None:
    """Ctrl-C (SIGINT to the lab's process group, as a terminal sends it) during a level whose
    requests each run some 7 s: the lab's own figure for the time its load took to stop is
    within 2 s (not the test's clock: the lab's exit also writes the report), every Locust
    process is gone when the lab exits, and the level before it is kept."""
    levels = ("--scenario", "routing", "--set", "scenarios[0].users=2", "--set",
              "scenarios[0].rounds=1", "--scenario", "throughput", "--set",
              "scenarios[1].concurrency=[2]", "--set", "scenarios[1].rates=[]", "--set",
              "scenarios[1].output_tokens=1500", "--set", "scenarios[1].duration=60")  # fmt: skip
    env = {**os.environ, "LAB_STATE_DIR": str(tmp_path / ".lab"), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "lab", "cycle", "--profile", "attach", "--target", stack.router,
            *levels]  # fmt: skip
    lab = subprocess.Popen(argv, cwd=tmp_path, env=env, text=True, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    assert lab.stdout is not None
    said = []
    for line in lab.stdout:
        said.append(line)
        if "🦗 throughput/c2:" in line:
            break
    time.sleep(2.0)  # the level's requests are under way, none near its end
    load = [p for p in psutil.Process(lab.pid).children(recursive=True)
            if "locust" in " ".join(p.cmdline())]  # fmt: skip
    assert load, "".join(said)
    os.killpg(lab.pid, signal.SIGINT)
    rest, _ = lab.communicate(timeout=60)
    assert lab.returncode == 130, "".join(said) + rest
    assert not [p.pid for p in load if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    manifest = json.loads(next(tmp_path.glob("results/*/manifest.json")).read_text())
    entries = {s["name"]: s for s in manifest["scenarios"]}
    assert entries["routing"]["status"] == "completed"
    assert entries["throughput"]["status"] == "interrupted"
    stopped = float(entries["throughput"]["error"].split("load stopped in ")[1].split(" s")[0])
    assert stopped <= 2.0, entries["throughput"]["error"]
    assert list(tmp_path.glob("results/*/routing/summary.json"))
