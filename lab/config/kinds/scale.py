"""scale: steady load on the profile's replicas; one replica is added, later removed."""

from __future__ import annotations

from dataclasses import dataclass

from lab.config.kinds.base import FIXED_GATE, LEVEL, RESILIENCE, Engines, Kind, Problem, register
from lab.config.kinds.plan import Level
from lab.config.kinds.steady import SteadyLoadScenario, steady_level


@dataclass(frozen=True)
class ScaleScenario(SteadyLoadScenario):
    up_at: int
    down_at: int


@register
class Scale(Kind):
    name = "scale"
    options = ScaleScenario
    figures = (LEVEL, RESILIENCE)
    gated = FIXED_GATE

    @classmethod
    def problems(cls, scenario: ScaleScenario, engines: Engines) -> list[Problem]:
        """Its events happen in order, inside the load."""
        if not scenario.up_at < scenario.down_at < scenario.duration:
            return [("", "expected up_at < down_at < duration")]
        return []

    @classmethod
    def levels(cls, scenario: ScaleScenario) -> list[Level]:
        return [steady_level(scenario)]
