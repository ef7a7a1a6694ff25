"""Why a pod of the stack is not ready, in words a user can act on.

Pure functions over pods as the Kubernetes API returns them (the JSON of `kubectl get pod -o
json`, camelCase keys): no client, no cluster, so every failure is table-tested. The waiting
loop that calls them lives in lab.platforms.kube.api.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Pod = dict[str, Any]

ENGINE_CONTAINER = "vllm"  # the chart's name for the engine container
# Image pull failures that will not cure themselves by waiting (ErrImagePull is the first,
# possibly transient, failure; the kubelet turns a lasting one into ImagePullBackOff).
IMAGE_PULL_FAILURES = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONFIG_FAILURES = ("CreateContainerConfigError", "CreateContainerError")
LOG_LINES = 20


@dataclass(frozen=True)
class Diagnosis:
    pod: str
    cause: str  # ImagePullBackOff, CrashLoopBackOff, OOMKilled, Unschedulable, ...
    message: str  # what happened, the evidence, and the likely fix
    # Seconds the condition may last before waiting is pointless (0: give up at once; None:
    # keep waiting until the timeout, e.g. a cluster autoscaler may still add a node).
    fatal_after: float | None = 0.0


def name(pod: Pod) -> str:
    return pod.get("metadata", {}).get("name", "?")


def role(pod: Pod) -> str:
    """'engine', 'router' or the pod's component label, from the chart's standard labels."""
    component = pod.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component", "")
    return {"serving-engine": "engine", "router": "router"}.get(component, component or "pod")


def terminating(pod: Pod) -> bool:
    return bool(pod.get("metadata", {}).get("deletionTimestamp"))


def is_ready(pod: Pod) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def progress(pod: Pod) -> str:
    """One short phrase for where a pod is on its way to ready (shown while waiting)."""
    if terminating(pod):
        return "terminating"
    if is_ready(pod):
        return "ready"
    status = pod.get("status", {})
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return f"not scheduled yet: {scheduled.get('message', '').strip() or 'waiting'}"
    for container in _statuses(pod):
        waiting = container.get("state", {}).get("waiting")
        if waiting:
            reason = waiting.get("reason", "waiting")
            if reason in ("ContainerCreating", "PodInitializing"):
                return f"pulling image or creating container {container.get('name')} ({reason})"
            return f"{container.get('name')}: {reason}"
    if status.get("phase") == "Running":
        what = "loading the model" if role(pod) == "engine" else "starting"
        return f"running, not ready yet ({what})"
    return status.get("phase", "pending").lower()


def summary(pod: Pod) -> str:
    """Pod condition for `status`: phase, readiness, restarts, the reason of a waiting container."""
    if terminating(pod):
        return "terminating"
    restarts = sum(c.get("restartCount", 0) for c in _statuses(pod))
    parts = [
        pod.get("status", {}).get("phase", "Unknown"),
        "ready" if is_ready(pod) else "not ready",
    ]
    for container in _statuses(pod):
        reason = container.get("state", {}).get("waiting", {}).get("reason")
        if reason:
            parts.append(reason)
    if restarts:
        parts.append(f"{restarts} restarts")
    return ", ".join(parts)


def crashing_container(pod: Pod) -> str | None:
    """The container whose last log lines explain a crash loop, if the pod is in one."""
    for container in _statuses(pod):
        if container.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff":
            return container.get("name")
    return None


def diagnose(
    pod: Pod, logs: str = "", unschedulable_after: float | None = 60.0
) -> Diagnosis | None:
    """What keeps this pod from becoming ready, if it is a known failure; None while it is
    merely on its way. `logs` are the crashing container's last lines (see
    crashing_container); `unschedulable_after` is how long a scheduling failure may last on
    this platform before it counts as fatal."""
    unschedulable = _unschedulable(pod, unschedulable_after)
    if unschedulable:
        return unschedulable
    for container in _statuses(pod):
        found = (
            _oom(pod, container)
            or _image_pull(pod, container)
            or _crash_loop(pod, container, logs)
            or _config(pod, container)
        )
        if found:
            return found
    return None


def insufficient(message: str) -> list[str]:
    """Resources the scheduler said no node has enough of ('cpu', 'memory', 'nvidia.com/gpu')."""
    # The resource name ends in a word character: the sentence's full stop is not part of it.
    return sorted(set(re.findall(r"Insufficient ([\w./-]*\w)", message)))


# Fixes for the resources the scheduler reports; the lab's profile keys are named so the user
# knows what to change.
RESOURCE_FIXES = {
    "cpu": (
        "lower engine.cpu or engine.replicas, or give the node more CPUs "
        "(minikube: a larger --cpus; a kind node has the host's CPUs)"
    ),
    "memory": (
        "lower engine.memory or engine.replicas, or give the node more memory "
        "(minikube: a larger --memory; kind: Docker's memory limit)"
    ),
    "nvidia.com/gpu": (
        "no node offers a free nvidia.com/gpu: check that the NVIDIA device plugin runs "
        "(kubectl get pods -n gpu-operator) and that no other pod holds the GPU, or lower "
        "engine.gpu or engine.replicas"
    ),
}


def _unschedulable(pod: Pod, after: float | None) -> Diagnosis | None:
    scheduled = _condition(pod, "PodScheduled")
    if not scheduled or scheduled.get("reason") != "Unschedulable":
        return None
    said = scheduled.get("message", "").strip()
    short = insufficient(said)
    lines = [f"the scheduler says: {said}"]
    for resource in short:
        fix = RESOURCE_FIXES.get(resource, f"free some {resource} or request less of it")
        lines.append(f"not enough {resource}: {fix}")
    if not short:
        lines.append("fix: check node taints, node selectors and persistent volume claims")
    cause = "Unschedulable" + (f" ({', '.join(short)})" if short else "")
    return Diagnosis(name(pod), cause, _message(pod, cause, lines), after)


def _oom(pod: Pod, container: dict[str, Any]) -> Diagnosis | None:
    states = (container.get("state", {}), container.get("lastState", {}))
    if not any(s.get("terminated", {}).get("reason") == "OOMKilled" for s in states):
        return None
    limit = _spec(pod, container.get("name")).get("resources", {}).get("limits", {}).get("memory")
    where = f"its limit of {limit}" if limit else "the node's memory (no limit set)"
    fix = (
        "raise engine.memory, or lower engine.max_model_len, engine.kv_cache_gb (CPU KV cache) "
        "or engine.gpu_memory_utilization"
        if role(pod) == "engine"
        else "give the router more memory (routerSpec.resources)"
    )
    lines = [f"container {container.get('name')} was killed for running out of {where}", fix]
    return Diagnosis(name(pod), "OOMKilled", _message(pod, "OOMKilled", lines))


def _image_pull(pod: Pod, container: dict[str, Any]) -> Diagnosis | None:
    waiting = container.get("state", {}).get("waiting", {})
    reason = waiting.get("reason")
    if reason not in IMAGE_PULL_FAILURES:
        return None
    image = container.get("image") or _spec(pod, container.get("name")).get("image", "?")
    key = "engine.image/engine.tag" if role(pod) == "engine" else "router.image/router.tag"
    lines = [
        f"the node cannot get image {image}: {waiting.get('message', '').strip() or reason}",
        f"fix: check {key} (the name and tag exist), the node's network to the registry, or "
        f"load the image into the node (kind: kind load docker-image {image} --name vllm-lab; "
        f"minikube: minikube image load {image} -p vllm-lab)",
    ]
    return Diagnosis(name(pod), reason, _message(pod, reason, lines))


def _crash_loop(pod: Pod, container: dict[str, Any], logs: str) -> Diagnosis | None:
    if container.get("state", {}).get("waiting", {}).get("reason") != "CrashLoopBackOff":
        return None
    last = container.get("lastState", {}).get("terminated", {})
    code = last.get("exitCode", "?")
    lines = [
        f"container {container.get('name')} keeps exiting (exit code {code}, "
        f"{container.get('restartCount', 0)} restarts); its last log lines:",
        *[f"    {line}" for line in (logs.strip().splitlines()[-LOG_LINES:] or ["(no log)"])],
        "fix: read the lines above; usual causes are a wrong model.source, a gated model "
        "without the token in $HF_TOKEN (model.hf_token_env), engine.max_model_len beyond "
        "what fits in memory, or engine.extra_args this vLLM does not know",
    ]
    return Diagnosis(name(pod), "CrashLoopBackOff", _message(pod, "CrashLoopBackOff", lines))


def _config(pod: Pod, container: dict[str, Any]) -> Diagnosis | None:
    waiting = container.get("state", {}).get("waiting", {})
    reason = waiting.get("reason")
    if reason not in CONFIG_FAILURES:
        return None
    lines = [
        f"container {container.get('name')} cannot be created: {waiting.get('message', reason)}",
        "fix: a Secret or ConfigMap it refers to is missing (the HF token Secret needs "
        "$HF_TOKEN set when `up` runs), or the container settings are invalid",
    ]
    return Diagnosis(name(pod), reason, _message(pod, reason, lines))


def _message(pod: Pod, cause: str, lines: list[str]) -> str:
    body = "\n".join(f"  {line}" for line in lines)
    return f"{role(pod)} pod {name(pod)} cannot become ready: {cause}\n{body}"


def _condition(pod: Pod, kind: str) -> dict[str, Any] | None:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _statuses(pod: Pod) -> list[dict[str, Any]]:
    status = pod.get("status", {})
    return list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )


def _spec(pod: Pod, container: str | None) -> dict[str, Any]:
    spec = pod.get("spec", {})
    for item in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        if item.get("name") == container:
            return item
    return {}
