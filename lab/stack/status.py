"""`status`: the running lab at one glance, from its state file and live probes."""

from __future__ import annotations

import time

import httpx

from lab.console import out
from lab.stack import prometheus
from lab.stack.metrics import SERVED, scrape
from lab.stack.state import State

NEXT_STEPS = (
    "python -m lab smoke · python -m lab check-routing · python -m lab run · python -m lab down"
)


def show(current: State, conditions: dict[str, str]) -> bool:
    """Print the status; return whether every component is healthy."""
    endpoints = current.require_endpoints()
    up_for = _duration(time.time() - current.created)
    out.print(
        f"🧪 [bold]{current.profile['name']}[/] on [bold]{current.platform}[/] "
        f"(up {up_for}, profile {current.profile_source})"
    )
    healthy = True
    with httpx.Client(timeout=3) as client:
        router_ok = answers(client, f"{endpoints.router}/health")
        healthy &= router_ok
        out.print(
            f"🔀 router     {endpoints.router}  {endpoints.routing}  "
            f"{_mark(router_ok, conditions.get('router'))}"
        )
        for engine in endpoints.engines:
            engine_ok = answers(client, f"{engine.url}/health")
            healthy &= engine_ok
            served = ""
            if engine_ok:
                count = scrape(engine.metrics, client).get(SERVED, 0.0)
                served = f"  {count:.0f} requests served"
            out.print(
                f"🧠 {engine.name:<9} {engine.url}  {endpoints.model}  "
                f"{_mark(engine_ok, conditions.get(engine.name))}{served}"
            )
    if endpoints.prometheus:
        healthy &= _prometheus_line(endpoints.prometheus)
    for line in endpoints.notes:
        out.print(f"ℹ️  {line}")
    out.print(f"💡 next: {NEXT_STEPS}" if healthy else "💡 next: python -m lab down, then up")
    return healthy


def _prometheus_line(url: str) -> bool:
    try:
        health = prometheus.targets(url)
    except httpx.HTTPError as exc:
        out.print(f"📈 prometheus {url}  ❌ not answering ({type(exc).__name__})")
        return False
    up = sum(1 for state in health.values() if state == "up")
    mark = "✅" if up == len(health) else "⚠️ "
    out.print(f"📈 prometheus {url}  {mark} {up}/{len(health)} targets up")
    return True


def answers(client: httpx.Client, url: str) -> bool:
    """Whether `url` answers 200 (any HTTP error, a refused connection included, is no)."""
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _mark(answers: bool, condition: str | None) -> str:
    if answers:
        return "✅ healthy"
    return f"❌ down ({condition})" if condition else "❌ down"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
