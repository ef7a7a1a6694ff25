"""Steady load while events happen to the stack: what the failover and scale kinds share."""

from __future__ import annotations

from dataclasses import dataclass

from lab.config.kinds.plan import Level, arrivals, lengths, open_loop_users
from lab.config.slo import Slo

SETTLE = 30  # seconds of load after a resilience scenario's last event
EVENT_ALLOWANCE = 900  # seconds events (engine starts) may take beyond a scenario's duration


@dataclass(frozen=True)
class SteadyLoadScenario:
    """Steady load while events happen to the stack: what failover and scale share."""

    name: str
    kind: str
    users: int
    duration: int
    prompt_tokens: int
    output_tokens: int
    rate: float | None
    slo: Slo | None


def steady_level(s: SteadyLoadScenario) -> Level:
    """Steady load (closed loop, or Poisson arrivals at `rate`) while the scenario's events
    happen. An engine may take minutes to load on a busy machine, so the load lasts until the
    last event is done, the router has taken back every live engine (lab.load.resilience
    .await_router), and SETTLE seconds more (and at least `duration`), within EVENT_ALLOWANCE."""
    options = lengths(s.prompt_tokens, s.output_tokens)
    users = s.users
    if s.rate is not None:
        users = open_loop_users(s.rate)
        options.update(arrivals(float(s.rate)))
    run_time = s.duration + EVENT_ALLOWANCE
    return Level(s.kind, "throughput.py", users, users, run_time, options, s.duration, SETTLE)
