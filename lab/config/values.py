"""Profile -> production-stack `vllm-stack` Helm values, checked against our strict schema.

Every profile setting lands on the key the chart's templates read (see the tests); the token
and API key are referenced from Kubernetes Secrets, never written here.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from lab.config import checks, dashboards
from lab.config.profile import Profile
from lab.config.validation import check, load_yaml
from lab.errors import ConfigError
from lab.paths import asset

# The kind and Minikube node sees the host's model cache here (kind/ configs, minikube mount).
NODE_MODEL_DIR = "/lab-models"
ROUTER_NODE_PORT = 30080
HF_TOKEN_SECRET = {"secretName": "vllm-lab-hf-token", "secretKey": "token"}
API_KEY_SECRET = {"secretName": "vllm-lab-api-key", "secretKey": "key"}
KUBERNETES_PLATFORMS = ("kind", "minikube", "existing")


def base_file(profile: Profile) -> Path:
    """Which helm-values/ base a profile starts from."""
    if profile.lmcache.enabled:
        return asset("helm-values", "gpu-lmcache.yaml")
    return asset("helm-values", "gpu.yaml" if profile.gpu else "cpu.yaml")


def render(profile: Profile, platform: str = "kind", hf_token: bool = False) -> dict[str, Any]:
    """The Helm values for a profile on a Kubernetes platform, validated.

    `hf_token` says whether the platform will create the token Secret (the token is in the
    environment); the values then reference it. `platform` decides how the router is reached:
    kind maps a NodePort to loopback, the others are port-forwarded.
    """
    if platform not in KUBERNETES_PLATFORMS:
        platform = "kind"
    problems = checks.chart_problems(profile, platform)  # refused, never silently dropped
    try:
        overlay = _overlay(profile, platform, hf_token)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    base = load_yaml(base_file(profile), "Helm values base")
    values = merge(base, overlay)
    check(values, "vllm-stack-values", f"values rendered from {profile.source}")
    return values


def check_file(path: Path) -> dict[str, Any]:
    """Validate an existing Helm values file; ConfigError lists every violation."""
    values = load_yaml(path, "Helm values file")
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: Helm values must be a mapping, not {type(values).__name__}")
    check(values, "vllm-stack-values", str(path))
    return values


def to_yaml(values: dict[str, Any]) -> str:
    return yaml.safe_dump(values, sort_keys=False, default_flow_style=False)


def engine_name(profile: Profile) -> str:
    """modelSpec name: it becomes part of Kubernetes object names, so a DNS label."""
    name = re.sub(r"[^a-z0-9-]+", "-", profile.model.name.lower()).strip("-")
    return name[:30].rstrip("-") or "model"


def _overlay(profile: Profile, platform: str, hf_token: bool) -> dict[str, Any]:
    engine, router = profile.engine, profile.router
    vllm_config: dict[str, Any] = {
        "enablePrefixCaching": engine.prefix_caching,
        "enableChunkedPrefill": engine.chunked_prefill,
        "maxModelLen": engine.max_model_len,
        "dtype": engine.dtype,
        "tensorParallelSize": engine.tensor_parallel_size,
        # The chart serves under modelURL unless told otherwise; clients use model.name.
        # Prompt-token details put each request's prefix-cache hits in its usage.
        "extraArgs": [
            "--served-model-name",
            profile.model.name,
            "--enable-prompt-tokens-details",
            *engine.extra_args,
        ],
    }
    if profile.gpu:
        vllm_config["gpuMemoryUtilization"] = engine.gpu_memory_utilization
    model_spec: dict[str, Any] = {
        "name": engine_name(profile),
        "repository": engine.image,
        "tag": engine.tag,
        "modelURL": _model_url(profile, platform),
        "replicaCount": engine.replicas,
        "requestCPU": engine.cpu,
        "requestMemory": engine.memory,
        "requestGPU": engine.gpu,
        "vllmConfig": vllm_config,
    }
    if profile.model.revision:
        model_spec["modelRevision"] = profile.model.revision
    if not profile.gpu:
        model_spec["env"] = [{"name": "VLLM_CPU_KVCACHE_SPACE", "value": str(engine.kv_cache_gb)}]
    if profile.model.is_tiny:
        model_spec["extraVolumes"] = [
            {"name": "lab-models", "hostPath": {"path": NODE_MODEL_DIR, "type": "Directory"}}
        ]
        model_spec["extraVolumeMounts"] = [
            {"name": "lab-models", "mountPath": NODE_MODEL_DIR, "readOnly": True}
        ]
    if hf_token:
        model_spec["hf_token"] = dict(HF_TOKEN_SECRET)
    if profile.lmcache.enabled:
        model_spec["lmcacheConfig"] = {
            "enabled": True,
            "cpuOffloadingBufferSize": _number_text(profile.lmcache.cpu_buffer_gb),
        }

    serving: dict[str, Any] = {
        "modelSpec": [model_spec],
        "serviceMonitor": {"enabled": profile.observability.prometheus},
    }
    router_spec: dict[str, Any] = {
        "enableRouter": True,
        "repository": router.image,
        "tag": router.tag,
        "routingLogic": router.routing,
        # Read by session routing, and by kvaware when it falls back to sessions.
        "sessionKey": router.session_key,
        "serviceMonitor": {"enabled": profile.observability.prometheus},
    }
    if "prefix_min_match_length" in router.policy:  # the only router.policy the chart has
        router_spec["prefixMinMatchLength"] = router.policy["prefix_min_match_length"]
    if platform == "kind":
        router_spec["serviceType"] = "NodePort"
        router_spec["nodePort"] = ROUTER_NODE_PORT
    if engine.api_key_env:
        serving["vllmApiKey"] = dict(API_KEY_SECRET)
        router_spec["vllmApiKey"] = dict(API_KEY_SECRET)

    overlay: dict[str, Any] = {
        "servingEngineSpec": serving,
        "routerSpec": router_spec,
        "grafanaDashboards": {"enabled": profile.observability.grafana},
        "kube-prometheus-stack": {
            "enabled": profile.observability.prometheus,
            "grafana": {"enabled": profile.observability.grafana},
        },
    }
    if profile.observability.grafana:
        # The lab's own dashboards, beside the chart's, as ConfigMaps of the release.
        overlay["extraObjects"] = dashboards.configmaps(profile.kubernetes.release)
    return overlay


def _model_url(profile: Profile, platform: str) -> str:
    source = profile.model.source
    if profile.model.is_tiny:
        if platform == "existing":
            raise ConfigError(
                f"{profile.source}: model.source: lab:tiny-llama lives in this machine's cache, "
                "which an existing cluster's nodes cannot see; use a Hugging Face id there"
            )
        return f"{NODE_MODEL_DIR}/tiny-llama"
    if source.startswith(("/", ".", "~")):
        raise ConfigError(
            f"{profile.source}: model.source: a local folder ({source}) is for the local and "
            "compose platforms; on Kubernetes use lab:tiny-llama or a Hugging Face id"
        )
    return source


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def merge(base: Any, overlay: Any) -> Any:
    """Deep merge: mappings key by key, lists of mappings item by item, anything else replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = copy.deepcopy(base)
        for key, value in overlay.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(overlay, list)
        and all(isinstance(item, dict) for item in base + overlay)
    ):
        merged = [merge(b, o) for b, o in zip(base, overlay, strict=False)]
        longer = overlay if len(overlay) > len(base) else base
        return merged + copy.deepcopy(longer[len(merged) :])
    return copy.deepcopy(overlay)
