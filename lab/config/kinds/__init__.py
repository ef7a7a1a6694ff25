"""Scenario kinds, one module each, registered as they are imported here (lab.config.kinds.base
says what a kind declares). Adding a kind: its module, its import below and its entry in
`Scenario`, and its part of schemas/lab-profile.schema.json (docs/architecture.md)."""

from __future__ import annotations

from lab.config.kinds.base import REGISTRY, Kind
from lab.config.kinds.capacity import CapacityScenario
from lab.config.kinds.failover import FailoverScenario
from lab.config.kinds.faults import FaultsScenario
from lab.config.kinds.replay import ReplayScenario
from lab.config.kinds.routing import RoutingScenario
from lab.config.kinds.scale import ScaleScenario
from lab.config.kinds.soak import SoakScenario
from lab.config.kinds.throughput import ThroughputScenario

Scenario = (
    RoutingScenario
    | ThroughputScenario
    | FailoverScenario
    | ScaleScenario
    | CapacityScenario
    | SoakScenario
    | FaultsScenario
    | ReplayScenario
)


def get(name: str) -> type[Kind]:
    """The kind of that name (the profile's schema has refused any other)."""
    return REGISTRY[name]


def every() -> tuple[type[Kind], ...]:
    return tuple(REGISTRY.values())
