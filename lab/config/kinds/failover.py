"""failover: steady load; one engine is killed (SIGKILL, as a crash), later restarted."""

from __future__ import annotations

from dataclasses import dataclass

from lab.config.kinds.base import FIXED_GATE, LEVEL, RESILIENCE, Engines, Kind, Problem, register
from lab.config.kinds.plan import Level
from lab.config.kinds.steady import SteadyLoadScenario, steady_level


@dataclass(frozen=True)
class FailoverScenario(SteadyLoadScenario):
    engine: int
    kill_at: int
    restart_at: int


@register
class Failover(Kind):
    name = "failover"
    options = FailoverScenario
    figures = (LEVEL, RESILIENCE)
    gated = FIXED_GATE

    @classmethod
    def problems(cls, scenario: FailoverScenario, engines: Engines) -> list[Problem]:
        """Its events happen in order, inside the load, to an engine that exists."""
        s, found = scenario, []
        if not s.kill_at < s.restart_at < s.duration:
            found.append(("", "expected kill_at < restart_at < duration"))
        if s.engine >= engines.replicas:
            found.append(
                (".engine", f"{s.engine} is not an engine (expected 0..{engines.replicas - 1})")
            )
        if engines.replicas < 2:
            found.append(("", "failover needs engine.replicas >= 2"))
        return found

    @classmethod
    def levels(cls, scenario: FailoverScenario) -> list[Level]:
        return [steady_level(scenario)]
