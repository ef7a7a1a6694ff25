"""What a scenario kind declares, and the registry kinds register into (lab.config.kinds).

A kind is a class: the typed options a profile gives it (its part of
schemas/lab-profile.schema.json), how it plans its levels, which figures its levels' summaries
carry beyond every level's, and which compare metrics the default gate judges on its levels,
or why none. compare reads the gate and figures from here, and lab.load the plans, so neither
keeps a list of kinds of its own.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from lab.config.kinds.plan import Level

# Figure groups a level's summary may carry (lab.results.levels computes them).
LEVEL = "level"  # every level's: counts, throughput, latencies, routing, SLO, the client's
ROUTING = "routing"  # conversations: TTFT by round, the routing verdict of the report
RESILIENCE = "resilience"  # failed requests, failover and recovery times around the events
CAPACITY = "capacity"  # the search's result, once per scenario (summary.json "capacity")
FIGURE_GROUPS = (LEVEL, ROUTING, RESILIENCE, CAPACITY)
# What the default gate judges on a level of fixed load: latency, throughput and errors.
FIXED_GATE = ("ttft_p50", "ttft_p90", "tpot_p50", "e2e_p90", "output_tokens_per_s", "error_rate")


class Engines(Protocol):
    """What a kind's checks may read of the profile's engines (lab.config.profile.Engine)."""

    @property
    def replicas(self) -> int: ...

    @property
    def max_model_len(self) -> int: ...


Problem = tuple[str, str]  # (where below the scenario: "" or ".field", what is wrong)


class Kind:
    """A scenario kind. Subclasses set every class variable and register with @register."""

    name: ClassVar[str]
    options: ClassVar[type]  # the frozen dataclass a profile's scenario of this kind becomes
    figures: ClassVar[tuple[str, ...]]  # figure groups of its summaries (FIGURE_GROUPS)
    gated: ClassVar[tuple[str, ...]] = ()  # compare metrics the default gate judges on it
    ungated: ClassVar[str] = ""  # why the default gate judges none of its metrics
    # Plans its levels as it runs (lab.load.capacity), so two runs share few: not a fixed level.
    searches: ClassVar[bool] = False

    @classmethod
    def problems(cls, scenario: Any, engines: Engines) -> list[Problem]:
        """What is wrong with a scenario of this kind that its schema cannot say."""
        return []

    @classmethod
    def levels(cls, scenario: Any) -> list[Level]:
        """The levels planned from the profile alone, before anything runs."""
        raise TypeError(f"{cls.name} scenarios plan their levels as they run")


REGISTRY: dict[str, type[Kind]] = {}


def register(kind: type[Kind]) -> type[Kind]:
    """Add a kind to the registry, refusing one that does not declare what every kind must."""
    missing = [name for name in ("name", "options", "figures") if not hasattr(kind, name)]
    if missing:
        raise TypeError(f"scenario kind {kind.__name__} declares no {', '.join(missing)}")
    if bool(kind.gated) == bool(kind.ungated):
        raise TypeError(
            f"scenario kind {kind.name}: expected either gated metrics or the reason it has "
            "none (ungated), and not both"
        )
    unknown = [group for group in kind.figures if group not in FIGURE_GROUPS]
    if LEVEL not in kind.figures or unknown:
        raise TypeError(
            f"scenario kind {kind.name}: figures must hold {LEVEL!r}, of {FIGURE_GROUPS}"
        )
    if kind.name in REGISTRY:
        raise TypeError(f"scenario kind {kind.name} registered twice")
    REGISTRY[kind.name] = kind
    return kind
