"""`monitor`: where the running lab's Prometheus and Grafana are, and, where the platform can
(MONITORING), loopback URLs to them with --port-forward (managed port-forwards, recorded in the
state so `down` stops them). Elsewhere the endpoints say it all.
"""

from __future__ import annotations

import contextlib

from lab import platforms
from lab.console import note, say
from lab.platforms.protocol import GRAFANA
from lab.stack import state
from lab.stack.state import State


def run(port_forward: bool = False, ports: dict[str, int] | None = None) -> None:
    """Show where they are; only --port-forward starts (and records) anything, so only then
    is the state locked and written."""
    current = state.require()  # a lab must be up (and its state usable) before any lock
    with state.locked() if port_forward else contextlib.nullcontext():
        current = state.require()
        if not platforms.monitor(current, port_forward, ports):
            _elsewhere(current)


def _elsewhere(current: State) -> None:
    endpoints = current.require_endpoints()
    if endpoints.prometheus:
        say(f"📈 Prometheus: {endpoints.prometheus}")
    else:
        note(f"no Prometheus runs in this {current.platform} lab")
    if endpoints.grafana:
        say(f"📊 Grafana: {endpoints.grafana}")
    elif not platforms.can(current.platform, GRAFANA):
        note("Grafana comes with the compose and Kubernetes platforms")
