"""The local platform with simulated engines (lab.sim) behind the real vllm-router: the logic
of smoke, the routing check, router restarts, process ownership and resilience scenarios, in
seconds. The same paths run against real vLLM in the `stack` tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from lab.load import resilience
from lab.stack import processes, routing_check, smoke, state
from lab.stack.processes import Proc
from tests.helpers.lab import lab_main
from tests.helpers.simstack import sim_stack


def test_a_simulated_stack_passes_smoke_and_the_routing_check(tmp_path) -> None:
    with sim_stack(tmp_path) as (_, current):
        where = current.require_endpoints()
        assert where.simulated and current.details["simulated"]["tpot_ms"] == 5
        assert all(r.passed for r in smoke.run(where))
        assert routing_check.run(where).passed
        saved = json.loads(state.path().read_text())
        assert saved["endpoints"]["simulated"] is True
        # Engines yield the CPU to the load generator and the router: each thread, and their
        # session's CPU group where the kernel groups sessions (autogroup).
        mine = psutil.Process().nice()
        for proc in current.processes:
            engine = proc.name.startswith("engine-")
            threads = psutil.Process(proc.pid).threads()
            niceness = {psutil.Process(t.id).nice() for t in threads}
            assert niceness == ({min(mine + 10, 19)} if engine else {mine})
            group = Path(f"/proc/{proc.pid}/autogroup")
            if group.exists():
                assert group.read_text().split()[-1] == ("10" if engine else "0"), proc.name


@pytest.mark.parametrize("routing", ["session", "prefixaware"])
def test_routing_checks_pass_on_a_simulated_stack(tmp_path, routing: str) -> None:
    with sim_stack(tmp_path, f"router.routing={routing}") as (_, current):
        assert routing_check.run(current.require_endpoints()).passed


def test_the_router_restarts_with_new_settings_and_the_engines_keep_running(tmp_path) -> None:
    with sim_stack(tmp_path) as (platform, current):
        engines = {p.name: (p.pid, p.started) for p in current.processes if p.name != "router"}
        lab = profile_with("router.routing=session")
        said = platform.restart_router(current, lab)
        assert "consistent_hash over 2 engines, engines untouched" in said
        now = {p.name: (p.pid, p.started) for p in current.processes if p.name != "router"}
        assert now == engines
        assert all(processes.alive(p) for p in current.processes)
        assert current.require_endpoints().routing == "session"
        assert state.load().profile["router"]["routing"] == "session"
        # The new routing applies: one session, one engine.
        served = set()
        for i in range(6):
            answer = httpx.post(
                f"{current.require_endpoints().router}/v1/completions",
                json={"model": "tiny-llama", "prompt": f"hello {i}", "max_tokens": 2},
                headers={"x-user-id": "one-user"},
                timeout=10,
            )
            served.add(answer.headers["x-lab-engine"])
        assert len(served) == 1
        assert routing_check.run(current.require_endpoints()).passed
        # The same from the command line, as a user would (the verb in this process).
        done = lab_main(
            "restart-router", "--profile", "cpu", "--set", "router.routing=prefixaware",
            "--set", "engine.simulated={tpot_ms: 5}", state_dir=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "cache_aware over 2 engines, engines untouched" in done.stdout
        after = state.load()
        assert {p.name: p.pid for p in after.processes if p.name != "router"} == {
            name: pid for name, (pid, _) in engines.items()
        }
        assert routing_check.run(after.require_endpoints()).passed


def profile_with(*sets: str):
    from lab.config import profile

    return profile.load("cpu", ["engine.simulated={tpot_ms: 5}", *sets])


STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.mark.parametrize("kind", ["plain", "ignores SIGTERM"])
def test_a_stranger_with_a_recorded_pid_survives_kill_failover_and_down(tmp_path, kind) -> None:
    code = "print('ready', flush=True); import time; time.sleep(600)"
    stranger = psutil.Popen(
        [sys.executable, "-c", STUBBORN if kind != "plain" else code],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    stranger.stdout.readline()
    try:
        with sim_stack(tmp_path) as (platform, current):
            real = next(p for p in current.processes if p.name == "engine-1")
            # The state now says engine-1 is the stranger's PID (a reboot, a recycled PID).
            recorded = Proc("engine-1", stranger.pid, stranger.create_time() - 50, "log", ("x",))
            current.processes[current.processes.index(real)] = recorded
            state.save(current)
            said = platform.kill_engine(current, 1)
            assert said == f"engine-1 (pid {stranger.pid}) is not the lab's any more: left alone"
            kill = resilience.plan(failover_scenario(), platform, current, profile_with())[0]
            resilience.inject([kill], time.time() - 1, tmp_path, current)
            lines = platform.down(current)
            assert f"engine-1 (pid {stranger.pid}) is not the lab's any more: left alone" in lines
            assert stranger.is_running() and stranger.status() != psutil.STATUS_ZOMBIE
            processes.stop(real, grace=2)  # the lab's own engine-1, out of the state by hand
    finally:
        stranger.kill()
        stranger.wait()


def failover_scenario():
    from lab.config import profile

    lab = profile.load("cpu-resilience", ["scenarios[0].kill_at=1", "scenarios[0].restart_at=2"])
    return lab.scenarios[0]


def test_vllm_router_accepts_every_policy_setting_and_still_routes(tmp_path) -> None:
    """Each router.policy knob, rendered, is taken by a real vllm-router (an unknown flag or a
    bad value would stop it at start) and the stack still serves and routes."""
    policy = (
        "router.policy={cache_threshold: 0.5, balance_abs_threshold: 1, "
        "balance_rel_threshold: 1.2, eviction_interval: 30, max_tree_size: 100000}"
    )
    with sim_stack(tmp_path, "router.routing=prefixaware", policy) as (_, current):
        (router,) = [p for p in current.processes if p.name == "router"]
        argv = list(router.cmd)  # as started (vllm-router retitles its process)
        for flag, value in [
            ("--cache-threshold", "0.5"), ("--balance-abs-threshold", "1"),
            ("--balance-rel-threshold", "1.2"), ("--eviction-interval-secs", "30"),
            ("--max-tree-size", "100000"),
        ]:  # fmt: skip
            assert argv[argv.index(flag) + 1] == value
        assert processes.alive(router)
        assert routing_check.run(current.require_endpoints()).passed
