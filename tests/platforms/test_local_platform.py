"""The local platform's plan, without starting anything: commands, environment, refusals."""

from __future__ import annotations

import pytest

from lab.config import profile
from lab.errors import ConfigError
from lab.platforms import choose
from lab.platforms.local import platform as local


def load(*sets: str, name: str = "cpu") -> profile.Profile:
    return profile.load(name, list(sets))


def test_engine_command_carries_every_engine_setting() -> None:
    cmd = local.engine_command(
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
    cmd = local.engine_command(load("engine.prefix_caching=false"), "/m", 8000)
    assert "--no-enable-prefix-caching" in cmd and "--enable-prefix-caching" not in cmd


def test_engines_are_spread_over_cores(monkeypatch) -> None:
    monkeypatch.setattr(local.os, "cpu_count", lambda: 2)
    binds = [local.engine_env(load(), i)["VLLM_CPU_OMP_THREADS_BIND"] for i in range(3)]
    assert binds == ["0", "1", "0"]
    monkeypatch.setattr(local.os, "cpu_count", lambda: 8)
    assert local.engine_env(load("engine.cpu=4"), 1)["VLLM_CPU_OMP_THREADS_BIND"] == "4-7"


def test_engine_env_sets_kv_cache_and_offline_hub() -> None:
    env = local.engine_env(load("engine.kv_cache_gb=2"), 1)
    assert env["LAB_ENGINE_NAME"] == "engine-1"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_USE_AOT_COMPILE"] == "0"  # its cache never loads with this torch


def test_api_key_travels_in_the_environment_only(monkeypatch) -> None:
    monkeypatch.setenv("LAB_TEST_KEY", "sk-secret")
    lab = load("engine.api_key_env=LAB_TEST_KEY")
    assert local.engine_env(lab, 0)["VLLM_API_KEY"] == "sk-secret"
    assert "sk-secret" not in " ".join(local.engine_command(lab, "/m", 8000))


@pytest.mark.parametrize(
    ("routing", "policy"),
    [("roundrobin", "round_robin"), ("session", "consistent_hash"), ("prefixaware", "cache_aware")],
)
def test_routing_maps_to_the_routers_policy(routing: str, policy: str) -> None:
    cmd = local.router_command(load(f"router.routing={routing}"), ["http://a", "http://b"], 1, 2)
    assert cmd[cmd.index("--policy") + 1] == policy
    assert cmd[cmd.index("--worker-urls") + 1 : cmd.index("--policy")] == ["http://a", "http://b"]
    assert cmd[cmd.index("--prometheus-port") + 1] == "2"
    assert (
        cmd[cmd.index("--health-check-interval-secs") + 1] == "10"
    )  # cpu.yaml: noticed in 10 s, not 60


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["engine.gpu=1"], "engine.gpu: the local platform runs vLLM CPU engines"),
        (["router.routing=kvaware"], "router.routing: 'kvaware' needs KV-cache events"),
        (["router.session_key=x-my-key"], "router.session_key: vllm-router keys sessions only"),
        (["lmcache.enabled=true"], "lmcache.enabled: LMCache needs GPU engines"),
        (["engine.tensor_parallel_size=2"], "engine.tensor_parallel_size: expected 1"),
        (["engine.api_key_env=LAB_UNSET_KEY_VAR"], "$LAB_UNSET_KEY_VAR is not set"),
    ],
)
def test_profiles_the_local_platform_cannot_serve_are_refused(sets, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        local.LocalPlatform().check(load(*sets))
    assert any(expected in problem for problem in exc.value.problems)


def test_the_default_profile_passes_the_check() -> None:
    local.LocalPlatform().check(load())


def test_platform_choice_policy(monkeypatch) -> None:
    monkeypatch.delenv("LAB_PLATFORM", raising=False)
    cpu = load()
    assert choose("compose", cpu)[0] == "compose"
    monkeypatch.setenv("LAB_PLATFORM", "minikube")
    assert choose(None, cpu) == ("minikube", "chosen by LAB_PLATFORM")
    monkeypatch.delenv("LAB_PLATFORM")
    assert choose(None, load("platform=existing"))[0] == "existing"
    monkeypatch.setattr("lab.platforms.docker_answers", lambda: False)
    assert choose(None, cpu)[0] == "local"
    monkeypatch.setattr("lab.platforms.docker_answers", lambda: True)
    monkeypatch.setattr("lab.platforms.shutil.which", lambda tool: f"/usr/bin/{tool}")
    assert choose(None, cpu)[0] == "kind"
    with pytest.raises(ConfigError, match="'nowhere' is not a platform"):
        choose("nowhere", cpu)
