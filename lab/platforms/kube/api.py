"""Reading the cluster through the `kubernetes` client, and waiting on it.

The client is asked for raw JSON (`_preload_content=False`), so pods reach
lab.platforms.kube.readiness in the same shape `kubectl get -o json` prints: one shape for the code,
the tests and the user. Every call is pinned to the lab's kube context, so a changed current context
never redirects the lab to another cluster.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.console import bad, ok, say
from lab.errors import StepFailed
from lab.platforms.kube import readiness
from lab.platforms.kube.readiness import Pod
from lab.runner import Runner

REQUEST_TIMEOUT = 10
CONTEXT_ENV = "LAB_KUBE_CONTEXT"


def chosen_context(run: Runner) -> tuple[str, str]:
    """The kube context a cluster the lab did not create is reached with: $LAB_KUBE_CONTEXT,
    else kubectl's current context; and, when there is none, what kubectl said (else "")."""
    chosen = os.environ.get(CONTEXT_ENV)
    if chosen:
        return chosen, ""
    done = run.run(["kubectl", "config", "current-context"], query=True, check=False)
    chosen = done.stdout.strip() if done.returncode == 0 else ""
    said = (done.stderr or done.stdout).strip().splitlines()
    return chosen, said[-1] if said and not chosen else ""


class Api:
    """The few reads the lab needs, against one kube context."""

    def __init__(self, context: str) -> None:
        from kubernetes import client, config

        # KUBECONFIG may list several files; the client reads its default at import time, so
        # pass it explicitly.
        files = os.environ.get("KUBECONFIG") or "~/.kube/config"
        expanded = os.pathsep.join(os.path.expanduser(p) for p in files.split(os.pathsep))
        self.context = context
        try:
            api_client = config.new_client_from_config(config_file=expanded, context=context)
        except Exception as exc:  # the client raises its own types for a bad or missing config
            raise StepFailed(f"cannot use kube context {context} from {files}: {exc}") from None
        self.core = client.CoreV1Api(api_client)

    def pods(self, namespace: str, selector: str) -> list[Pod]:
        return self._listed(self.core.list_namespaced_pod, namespace, selector)

    def services(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self._listed(self.core.list_namespaced_service, namespace, selector)

    @staticmethod
    def _listed(listing: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The items of a namespaced list call, as plain JSON (not the client's models)."""
        raw: Any = listing(
            namespace,
            label_selector=selector,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
        return json.loads(raw.data).get("items", [])

    def logs(self, namespace: str, pod: str, container: str, previous: bool = True) -> str:
        raw: Any = self.core.read_namespaced_pod_log(
            pod,
            namespace,
            container=container,
            previous=previous,
            tail_lines=readiness.LOG_LINES,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
        return raw.data.decode(errors="replace")

    def nodes(self) -> list[dict[str, Any]]:
        raw: Any = self.core.list_node(_preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        return json.loads(raw.data).get("items", [])


ApiFactory = Callable[[str], Api]


@dataclass
class Clock:
    """Time as the waiting loops see it; tests pass a short poll interval."""

    poll: float = 2.0
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Group:
    """Pods selected by `selector` of which exactly `expected` must be ready."""

    what: str
    selector: str
    expected: int
    ready: list[Pod] = field(default_factory=list)


def wait_pods(
    api: Api,
    namespace: str,
    groups: list[Group],
    timeout: float,
    clock: Clock,
    unschedulable_after: float | None = 60.0,
) -> list[Group]:
    """Wait until every group has exactly its expected pods, all ready; say progress as it
    changes; fail at once (with cause and fix) on a failure waiting will not cure."""
    began = clock.now()
    said: dict[str, str] = {}
    first_seen: dict[tuple[str, str], float] = {}
    while True:
        pending: list[str] = []
        for group in groups:
            try:
                listed = api.pods(namespace, group.selector)
            except Exception as exc:  # the API server may blink while a new cluster settles
                pending.append(f"{group.what}: the API server did not answer ({exc})")
                continue
            live = [p for p in listed if not readiness.terminating(p)]
            group.ready = sorted(
                (p for p in live if readiness.is_ready(p)), key=lambda p: readiness.name(p)
            )
            for pod in live:
                _check(api, namespace, pod, clock.now(), first_seen, unschedulable_after)
                line = readiness.progress(pod)
                if said.get(readiness.name(pod)) != line:
                    said[readiness.name(pod)] = line
                    elapsed = clock.now() - began
                    say(f"⏳ {group.what} pod {readiness.name(pod)}: {line} ({elapsed:.0f} s)")
                if not readiness.is_ready(pod):
                    pending.append(f"{readiness.name(pod)}: {line}")
            if len(live) != group.expected:
                pending.append(f"{group.what}: {len(live)} pods, expected {group.expected}")
        if not pending:
            ok(f"all pods ready after {clock.now() - began:.0f} s")
            return groups
        if clock.now() - began > timeout:
            bad(f"not ready after {timeout:.0f} s (kubernetes.ready_timeout):")
            raise StepFailed(f"pods not ready after {timeout:.0f} s: " + "; ".join(pending))
        clock.sleep(clock.poll)


def _check(
    api: Api,
    namespace: str,
    pod: Pod,
    now: float,
    first_seen: dict[tuple[str, str], float],
    unschedulable_after: float | None,
) -> None:
    """Raise StepFailed if the pod shows a failure that has lasted long enough to be fatal."""
    logs = ""
    container = readiness.crashing_container(pod)
    if container:
        logs = _logs(api, namespace, readiness.name(pod), container)
    found = readiness.diagnose(pod, logs, unschedulable_after)
    if found is None or found.fatal_after is None:
        return
    since = first_seen.setdefault((found.pod, found.cause), now)
    if now - since >= found.fatal_after:
        bad(found.message)
        raise StepFailed(found.message)


def _logs(api: Api, namespace: str, pod: str, container: str) -> str:
    """The crashed instance's last lines; the current one's if the kubelet kept no other."""
    for previous in (True, False):
        try:
            text = api.logs(namespace, pod, container, previous=previous)
        except Exception:  # the API refuses logs of a container that never ran: try the other
            continue
        if text.strip():
            return text
    return ""


def gpus(nodes: list[dict[str, Any]]) -> int:
    """nvidia.com/gpu the nodes offer, summed over nodes."""
    total = 0
    for node in nodes:
        value = node.get("status", {}).get("allocatable", {}).get("nvidia.com/gpu", "0")
        total += int(value) if str(value).isdigit() else 0
    return total


def wait_gpus(api: Api, needed: int, timeout: float, clock: Clock) -> int:
    """Wait until the nodes offer `needed` GPUs: the GPU operator's device plugin starts after
    the operator itself, and an engine scheduled before it would be Unschedulable."""
    began = clock.now()
    while True:
        found = gpus(api.nodes())
        if found >= needed:
            ok(f"nodes offer {found} nvidia.com/gpu")
            return found
        if clock.now() - began > timeout:
            raise StepFailed(
                f"nodes offer {found} nvidia.com/gpu after {timeout:.0f} s, {needed} needed: "
                "check the GPU operator's pods (kubectl get pods -n gpu-operator)"
            )
        clock.sleep(clock.poll)
