"""The profile rendered to engine and router command lines (both the local and Compose
platforms run these)."""

from __future__ import annotations

import pytest

from lab.config import commandlines, profile


def load(*sets: str, name: str = "cpu") -> profile.Profile:
    return profile.load(name, list(sets))


def test_engine_command_carries_every_engine_setting() -> None:
    cmd = commandlines.engine_command(
        load("engine.max_model_len=1024", "engine.extra_args=[--enforce-eager]"), "/m", 8001
    )
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    pairs = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert pairs["--model"] == "/m"
    assert pairs["--served-model-name"] == "tiny-llama"
    assert pairs["--port"] == "8001" and pairs["--host"] == "127.0.0.1"
    assert pairs["--max-model-len"] == "1024"
    assert pairs["--dtype"] == "float32"
    assert "--enable-prefix-caching" in cmd and "--no-enable-chunked-prefill" in cmd
    assert pairs["--middleware"] == "lab.inproc.engine_tag.EngineTag"
    assert cmd[-1] == "--enforce-eager"


def test_prefix_caching_off_is_said_explicitly() -> None:
    cmd = commandlines.engine_command(load("engine.prefix_caching=false"), "/m", 8000)
    assert "--no-enable-prefix-caching" in cmd and "--enable-prefix-caching" not in cmd


def test_engines_are_spread_over_cores(monkeypatch) -> None:
    monkeypatch.setattr(commandlines.os, "cpu_count", lambda: 2)
    binds = [commandlines.engine_env(load(), i)["VLLM_CPU_OMP_THREADS_BIND"] for i in range(3)]
    assert binds == ["0", "1", "0"]
    monkeypatch.setattr(commandlines.os, "cpu_count", lambda: 8)
    assert commandlines.engine_env(load("engine.cpu=4"), 1)["VLLM_CPU_OMP_THREADS_BIND"] == "4-7"


def test_engine_env_sets_kv_cache_and_offline_hub() -> None:
    env = commandlines.engine_env(load("engine.kv_cache_gb=2"), 1)
    assert env["LAB_ENGINE_NAME"] == "engine-1"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_USE_AOT_COMPILE"] == "0"  # its cache never loads with this torch


def test_api_key_travels_in_the_environment_only(monkeypatch) -> None:
    monkeypatch.setenv("LAB_TEST_KEY", "sk-secret")
    lab = load("engine.api_key_env=LAB_TEST_KEY")
    assert commandlines.engine_env(lab, 0)["VLLM_API_KEY"] == "sk-secret"
    assert "sk-secret" not in " ".join(commandlines.engine_command(lab, "/m", 8000))


@pytest.mark.parametrize(
    ("routing", "policy"),
    [("roundrobin", "round_robin"), ("session", "consistent_hash"), ("prefixaware", "cache_aware")],
)
def test_routing_maps_to_the_routers_policy(routing: str, policy: str) -> None:
    cmd = commandlines.router_command(
        load(f"router.routing={routing}"), ["http://a", "http://b"], 1, 2
    )
    assert cmd[cmd.index("--policy") + 1] == policy
    assert cmd[cmd.index("--worker-urls") + 1 : cmd.index("--policy")] == ["http://a", "http://b"]
    assert cmd[cmd.index("--prometheus-port") + 1] == "2"
    assert (
        cmd[cmd.index("--health-check-interval-secs") + 1] == "10"
    )  # cpu.yaml: noticed in 10 s, not 60


def test_a_simulated_engine_takes_the_profiles_timing_and_model() -> None:
    lab = load("engine.simulated={tpot_ms: 40, max_batch: 4}", "engine.prefix_caching=false")
    cmd = commandlines.sim_command(lab, 8003, "engine-3")
    assert cmd[1:3] == ["-m", "lab.sim"]
    pairs = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert pairs["--name"] == "engine-3" and pairs["--port"] == "8003"
    assert pairs["--served-model-name"] == "tiny-llama"
    assert pairs["--tpot-ms"] == "40" and pairs["--max-batch"] == "4"
    assert cmd[-1] == "--no-prefix-caching"
    assert commandlines.sim_env(3)["LAB_ENGINE_NAME"] == "engine-3"
