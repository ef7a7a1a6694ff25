"""Every profile setting reaches the key the vllm-stack chart reads; bad values are refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from lab.config import profile, values
from lab.config.validation import violations
from lab.errors import ConfigError


def render(*sets: str, name: str = "cpu", platform: str = "kind", **kw: Any) -> dict[str, Any]:
    return values.render(profile.load(name, list(sets)), platform, **kw)


def model_spec(rendered: dict[str, Any]) -> dict[str, Any]:
    (spec,) = rendered["servingEngineSpec"]["modelSpec"]
    return spec


def vllm_config(rendered: dict[str, Any]) -> dict[str, Any]:
    return model_spec(rendered)["vllmConfig"]


@pytest.mark.parametrize("routing", ["roundrobin", "session", "prefixaware", "kvaware"])
def test_routing_reaches_routing_logic(routing: str) -> None:
    assert render(f"router.routing={routing}")["routerSpec"]["routingLogic"] == routing


def test_session_key_reaches_session_key() -> None:
    rendered = render("router.routing=session", "router.session_key=x-session-id")
    assert rendered["routerSpec"]["sessionKey"] == "x-session-id"


def test_session_routing_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="session_key"):
        render("router.routing=session", "router.session_key=")
    broken = render("router.routing=session")
    del broken["routerSpec"]["sessionKey"]
    assert any(path == "routerSpec" for path, _ in violations(broken, "vllm-stack-values"))


@pytest.mark.parametrize("enabled", [True, False])
def test_prefix_caching_reaches_the_chart_both_ways(enabled: bool) -> None:
    # The chart adds --no-enable-prefix-caching unless this is exactly true.
    flag = str(enabled).lower()
    assert vllm_config(render(f"engine.prefix_caching={flag}"))["enablePrefixCaching"] is enabled


@pytest.mark.parametrize("enabled", [True, False])
def test_chunked_prefill_reaches_the_chart(enabled: bool) -> None:
    flag = str(enabled).lower()
    assert vllm_config(render(f"engine.chunked_prefill={flag}"))["enableChunkedPrefill"] is enabled


@pytest.mark.parametrize(
    ("assignment", "key", "expected"),
    [
        ("engine.max_model_len=4096", "maxModelLen", 4096),
        ("engine.dtype=bfloat16", "dtype", "bfloat16"),
        ("engine.tensor_parallel_size=2", "tensorParallelSize", 2),
    ],
)
def test_engine_settings_reach_vllm_config(assignment: str, key: str, expected: Any) -> None:
    assert vllm_config(render(assignment))[key] == expected


def test_gpu_memory_utilization_reaches_gpu_engines_only() -> None:
    gpu = render("engine.gpu_memory_utilization=0.6", name="gpu")
    assert vllm_config(gpu)["gpuMemoryUtilization"] == 0.6
    assert "gpuMemoryUtilization" not in vllm_config(render())


def test_served_name_and_extra_args_reach_extra_args() -> None:
    args = vllm_config(render("engine.extra_args=[--enforce-eager]"))["extraArgs"]
    assert args == [
        "--served-model-name",
        "tiny-llama",
        "--enable-prompt-tokens-details",
        "--enforce-eager",
    ]


@pytest.mark.parametrize(
    ("assignment", "key", "expected"),
    [
        ("engine.replicas=3", "replicaCount", 3),
        ("engine.cpu=4", "requestCPU", 4),
        ("engine.memory=6Gi", "requestMemory", "6Gi"),
        ("engine.gpu=2", "requestGPU", 2),
        ("engine.image=example.org/vllm-cpu", "repository", "example.org/vllm-cpu"),
        ("engine.tag=v9", "tag", "v9"),
    ],
)
def test_resources_and_image_reach_model_spec(assignment: str, key: str, expected: Any) -> None:
    assert model_spec(render(assignment))[key] == expected


def test_lmcache_reaches_lmcache_config() -> None:
    spec = model_spec(render("lmcache.cpu_buffer_gb=30", name="gpu-lmcache"))
    assert spec["lmcacheConfig"]["enabled"] is True
    assert spec["lmcacheConfig"]["cpuOffloadingBufferSize"] == "30"
    assert "lmcacheConfig" not in model_spec(render())


@pytest.mark.parametrize("enabled", [True, False])
def test_observability_reaches_the_chart_switches(enabled: bool) -> None:
    flag = str(enabled).lower()
    rendered = render(f"observability.prometheus={flag}", f"observability.grafana={flag}")
    assert rendered["servingEngineSpec"]["serviceMonitor"]["enabled"] is enabled
    assert rendered["routerSpec"]["serviceMonitor"]["enabled"] is enabled
    assert rendered["kube-prometheus-stack"]["enabled"] is enabled
    assert rendered["grafanaDashboards"]["enabled"] is enabled


def test_router_is_enabled_with_the_charts_key() -> None:
    rendered = render()
    assert rendered["routerSpec"]["enableRouter"] is True
    assert "enabled" not in rendered["routerSpec"]  # kdevops' key, which the chart never reads


def test_cpu_profiles_clear_the_nvidia_runtime_class() -> None:
    for name in ("cpu", "cpu-quick"):
        assert render(name=name)["servingEngineSpec"]["runtimeClassName"] == ""


def test_cpu_engines_get_their_kv_cache_size() -> None:
    env = model_spec(render("engine.kv_cache_gb=2"))["env"]
    assert {"name": "VLLM_CPU_KVCACHE_SPACE", "value": "2"} in env


def test_tiny_model_is_read_from_the_node_mount() -> None:
    spec = model_spec(render())
    assert spec["modelURL"] == "/lab-models/tiny-llama"
    assert spec["extraVolumeMounts"][0]["mountPath"] == "/lab-models"


def test_tiny_model_on_an_existing_cluster_is_refused() -> None:
    with pytest.raises(ConfigError, match="existing cluster"):
        render(platform="existing")


def test_kind_exposes_the_router_on_its_node_port_others_do_not() -> None:
    assert render(platform="kind")["routerSpec"]["nodePort"] == 30080
    assert "nodePort" not in render(name="gpu", platform="minikube")["routerSpec"]


def test_hf_token_is_only_ever_a_secret_reference(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_very_secret_value")
    rendered = render(name="gpu", hf_token=True)
    assert model_spec(rendered)["hf_token"] == {
        "secretName": "vllm-lab-hf-token",
        "secretKey": "token",
    }
    assert "hf_very_secret_value" not in values.to_yaml(rendered)


def test_api_key_is_a_secret_reference(monkeypatch) -> None:
    monkeypatch.setenv("LAB_KEY", "sk-do-not-write")
    rendered = render("engine.api_key_env=LAB_KEY")
    assert rendered["servingEngineSpec"]["vllmApiKey"]["secretName"] == "vllm-lab-api-key"
    assert "sk-do-not-write" not in values.to_yaml(rendered)


@pytest.mark.parametrize("name", ["cpu", "cpu-quick", "gpu", "gpu-lmcache"])
def test_every_shipped_profile_renders_valid_values(name: str) -> None:
    rendered = render(name=name, platform="minikube")
    assert violations(rendered, "vllm-stack-values") == []


def test_merge_keeps_base_and_overlays_list_items() -> None:
    base = {"a": {"x": 1, "y": 2}, "l": [{"k": 1, "keep": True}], "s": [1, 2]}
    overlay = {"a": {"y": 3}, "l": [{"k": 2}], "s": [9]}
    assert values.merge(base, overlay) == {
        "a": {"x": 1, "y": 3},
        "l": [{"k": 2, "keep": True}],
        "s": [9],
    }


# --- checking values files -------------------------------------------------------------------


def good_values() -> dict[str, Any]:
    return copy.deepcopy(render())


def spec0(v: dict[str, Any]) -> dict[str, Any]:
    return v["servingEngineSpec"]["modelSpec"][0]


def _request_cpu(v):
    spec0(v)["requestCPU"] = 1.5


def _routing_prefix(v):
    v["routerSpec"]["routingLogic"] = "prefix"


def _misspelt_router_key(v):
    v["routerSpec"]["routinglogic"] = v["routerSpec"].pop("routingLogic")


def _misspelt_model_key(v):
    spec0(v)["replicas"] = spec0(v).pop("replicaCount")


def _max_model_len_text(v):
    spec0(v)["vllmConfig"]["maxModelLen"] = "2048"


def _gpu_util(v):
    spec0(v)["vllmConfig"]["gpuMemoryUtilization"] = 1.5


def _replicas_zero(v):
    spec0(v)["replicaCount"] = 0


def _replicas_negative(v):
    spec0(v)["replicaCount"] = -1


def _top_level_typo(v):
    v["routerSpecs"] = {}


def _enum_pull_policy(v):
    v["servingEngineSpec"]["imagePullPolicy"] = "Sometimes"


@pytest.mark.parametrize(
    ("breaks", "path"),
    [
        (_request_cpu, "servingEngineSpec.modelSpec[0].requestCPU"),
        (_routing_prefix, "routerSpec.routingLogic"),
        (_misspelt_router_key, "routerSpec.routinglogic"),
        (_misspelt_model_key, "servingEngineSpec.modelSpec[0].replicas"),
        (_max_model_len_text, "servingEngineSpec.modelSpec[0].vllmConfig.maxModelLen"),
        (_gpu_util, "servingEngineSpec.modelSpec[0].vllmConfig.gpuMemoryUtilization"),
        (_replicas_zero, "servingEngineSpec.modelSpec[0].replicaCount"),
        (_replicas_negative, "servingEngineSpec.modelSpec[0].replicaCount"),
        (_top_level_typo, "routerSpecs"),
        (_enum_pull_policy, "servingEngineSpec.imagePullPolicy"),
    ],
)
def test_bad_values_files_are_refused_by_path(write, breaks, path: str) -> None:
    broken = good_values()
    breaks(broken)
    file = write("values.yaml", yaml.safe_dump(broken))
    with pytest.raises(ConfigError) as exc:
        values.check_file(file)
    lines = exc.value.problems
    assert any(line.startswith(f"{file}: {path}: ") for line in lines), lines


def test_routing_logic_error_lists_the_charts_choices(write) -> None:
    broken = good_values()
    _routing_prefix(broken)
    with pytest.raises(ConfigError, match=r"'prefix' is not one of \['roundrobin', 'session'"):
        values.check_file(write("values.yaml", yaml.safe_dump(broken)))


def test_a_valid_values_file_passes(write) -> None:
    assert values.check_file(write("v.yaml", yaml.safe_dump(good_values())))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("- 1\n", "must be a mapping"), ("a: [\n", "not valid YAML")],
)
def test_unreadable_values_files_are_refused(write, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        values.check_file(write("v.yaml", text))


def test_the_prefix_match_length_reaches_the_charts_router_spec() -> None:
    rendered = render("router.routing=prefixaware", "router.policy.prefix_min_match_length=256")
    assert rendered["routerSpec"]["prefixMinMatchLength"] == 256
    assert violations(rendered, "vllm-stack-values") == []
    assert "prefixMinMatchLength" not in render("router.routing=prefixaware")["routerSpec"]
