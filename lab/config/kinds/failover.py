"""failover: steady load; one engine is killed (SIGKILL, as a crash), later restarted."""

from __future__ import annotations

from dataclasses import dataclass

from lab.config.kinds.base import FIXED_GATE, LEVEL, RESILIENCE, Kind, register
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
    def levels(cls, scenario: FailoverScenario) -> list[Level]:
        return [steady_level(scenario)]
