"""`monitor` on Kubernetes: the chart's kube-prometheus-stack dependency (its Prometheus and
Grafana), and, with --port-forward, loopback URLs to them (managed port-forwards, recorded in the
state so `down` stops them). Their Service names follow that chart's naming rules, reproduced
here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lab.console import say
from lab.platforms.kube import portforward
from lab.platforms.kube.details import KubeDetails
from lab.platforms.kube.platform import DEFAULT_PORTS
from lab.runner import Runner
from lab.stack import processes, state
from lab.stack.state import State

PROMETHEUS_PORT = 9090
GRAFANA_PORT = 80


def prometheus_service(release: str) -> str:
    """kube-prometheus-stack's fullname (the release, with the chart's name unless the release
    contains it, cut to 26 characters) + '-prometheus'."""
    chart = "kube-prometheus-stack"
    full = release if chart in release else f"{release}-{chart}"
    return f"{full[:26].rstrip('-')}-prometheus"


def grafana_service(release: str) -> str:
    """The Grafana subchart's fullname: the release with '-grafana' unless it contains it."""
    full = release if "grafana" in release else f"{release}-grafana"
    return full[:63].rstrip("-")


def show(current: State, port_forward: bool, chosen: dict[str, int] | None) -> None:
    """Where they are; with `port_forward`, forwarded (the state saved with the forwards)."""
    ports = {**DEFAULT_PORTS, **(chosen or {})}
    observability = current.profile["observability"]
    details = KubeDetails.from_json(current.details)
    context, namespace, release = details.context, details.namespace, details.release
    if not observability["prometheus"]:
        say("📈 observability.prometheus is off in this lab's profile: no Prometheus to show")
        return
    wanted = [("prometheus", "📈 Prometheus", prometheus_service(release), PROMETHEUS_PORT)]
    if observability["grafana"]:
        wanted.append(("grafana", "📊 Grafana", grafana_service(release), GRAFANA_PORT))
    for key, title, service, remote in wanted:
        say(f"{title}: svc/{service}:{remote} in namespace {namespace} (context {context})")
        url = _forwarded(current, key)
        if port_forward and not url:
            url = _forward(current, details, key, service, remote, ports[key])
        if url:
            say(f"   {url}")
        else:
            argv = portforward.command(context, namespace, f"svc/{service}", ports[key], remote)
            say(f"   reach it: {' '.join(argv)}  (or: python -m lab monitor --port-forward)")
    if observability["grafana"]:
        secret = f"kubectl get secret {grafana_service(release)} -n {namespace} "
        secret += f"--context {context} -o jsonpath='{{.data.admin-password}}' | base64 -d"
        say(f"   login: admin; password: {secret}")
        say("   dashboards: vLLM Lab / Engines, vLLM Lab / Router, and the chart's own")
    if port_forward:
        state.save(current)


def _forwarded(current: State, key: str) -> str:
    """The URL of a live port-forward `monitor` started before, if any."""
    for proc in current.processes:
        if proc.meta.get("component") == key and processes.alive(proc):
            return f"http://127.0.0.1:{proc.port}"
    return ""


def _forward(
    current: State, details: KubeDetails, key: str, service: str, remote: int, preferred: int
) -> str:
    taken = {proc.port for proc in current.processes}
    port = processes.claim_port(preferred, taken, key)
    target = f"svc/{service}"
    argv = portforward.command(details.context, details.namespace, target, port, remote)
    proc = portforward.start(f"forward-{key}", argv, port, Runner(), meta={"component": key})
    assert proc is not None  # not a dry run
    current.processes = [p for p in current.processes if p.meta.get("component") != key]
    current.processes.append(proc)
    url = f"http://127.0.0.1:{port}"
    if current.endpoints:
        changed: dict[str, Any] = {key: url}  # prometheus or grafana
        current.endpoints = dataclasses.replace(current.endpoints, **changed)
    return url
