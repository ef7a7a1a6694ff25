"""The profile rendered to engine and router command lines (both the local and Compose
platforms run these)."""

from __future__ import annotations

import json
import subprocess

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


def test_a_test_delay_reaches_the_middleware_and_the_simulated_engine() -> None:
    from lab.inproc import engine_faults

    assert commandlines.TEST_DELAY_ENV == engine_faults.TEST_DELAY_ENV
    lab = load("engine.test_delay={ttft_share: 0.2}")
    assert json.loads(commandlines.engine_env(lab, 0)["LAB_TEST_DELAY"]) == {
        "first_chunk_ms": 0,
        "ttft_share": 0.2,
    }
    assert "LAB_TEST_DELAY" not in commandlines.engine_env(load(), 0)
    sim = load("engine.simulated={ttft_ms: 50}", "engine.test_delay={ttft_share: 0.2}")
    cmd = commandlines.sim_command(sim, 8000, "engine-0")
    assert float(cmd[cmd.index("--ttft-ms") + 1]) == pytest.approx(60)
    both = load("engine.simulated={ttft_ms: 50}",
                "engine.test_delay={ttft_share: 0.2, first_chunk_ms: 15}")  # fmt: skip
    cmd = commandlines.sim_command(both, 8000, "engine-0")
    assert float(cmd[cmd.index("--ttft-ms") + 1]) == pytest.approx(75)


def test_a_test_delay_is_refused_where_the_middleware_does_not_run() -> None:
    from lab.config import checks

    lab = load("engine.test_delay={first_chunk_ms: 10}")
    assert "engine.test_delay" in checks.test_delay_problems(lab, "kind")[0]
    assert checks.test_delay_problems(load(), "kind") == []
    with pytest.raises(Exception, match="test_delay"):
        load("engine.test_delay={share: 0.2}")


# router.policy -> vllm-router 0.1.17's flags, as its --help names them.
VLLM_ROUTER_KNOBS = [
    ("cache_threshold", "0.5", "--cache-threshold"),
    ("balance_abs_threshold", "2", "--balance-abs-threshold"),
    ("balance_rel_threshold", "1.2", "--balance-rel-threshold"),
    ("eviction_interval", "30", "--eviction-interval-secs"),
    ("max_tree_size", "100000", "--max-tree-size"),
]


@pytest.mark.parametrize(("key", "value", "flag"), VLLM_ROUTER_KNOBS)
def test_each_policy_setting_reaches_vllm_routers_command_line(key, value, flag) -> None:
    cmd = commandlines.router_command(
        load("router.routing=prefixaware", f"router.policy.{key}={value}"), ["http://a"], 1, 2
    )
    assert cmd[cmd.index(flag) + 1] == value


def test_policy_flags_are_vllm_routers_own() -> None:
    """The flag names are pinned against the installed vllm-router's --help."""
    binary = commandlines.router_binary()
    assert binary, "vllm-router is not installed (the lab's engine extra)"
    helped = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    for flag in commandlines.POLICY_FLAGS["vllm-router"].values():
        assert f"[{flag} " in helped
    assert {flag for _, _, flag in VLLM_ROUTER_KNOBS} == set(
        commandlines.POLICY_FLAGS["vllm-router"].values()
    )


def test_no_policy_setting_leaves_the_routers_defaults() -> None:
    cmd = commandlines.router_command(load("router.routing=prefixaware"), ["http://a"], 1, 2)
    assert not set(cmd) & set(commandlines.POLICY_FLAGS["vllm-router"].values())
