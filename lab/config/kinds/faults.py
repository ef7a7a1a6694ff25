"""faults: steady load while timed faults happen to the stack, as production has them: an engine
killed, hung (stopped, not dead), slowed or answering with errors, the router restarted, the
Prometheus that scrapes the stack gone. lab.load.faults injects them; lab.results.fault_figures
says, per fault, what it did to the requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.config.kinds.base import FIXED_GATE, LEVEL, RESILIENCE, Engines, Kind, Problem, register
from lab.config.kinds.plan import Level
from lab.config.kinds.steady import SteadyLoadScenario, steady_level

# Each fault, and the options it takes beyond at, for (and engine, where it has one).
OPTIONS: dict[str, tuple[str, ...]] = {
    "kill": (),  # SIGKILL as a crash; started again after `for`
    "hang": (),  # the engine's processes stopped for `for` s, then continued
    "slow": ("delay_ms", "share"),  # its first chunks held back by delay_ms + share of TTFT
    "errors": ("share", "mode"),  # that share of its requests: HTTP 500, or the stream cut
    "router_restart": (),
    "prometheus_down": (),
}
ON_AN_ENGINE = ("kill", "hang", "slow", "errors")
MODES = ("http_500", "cut")
SLOW_DEFAULT_MS = 1000.0  # a slow fault that says neither delay_ms nor share


@dataclass(frozen=True)
class Fault:
    fault: str
    at: int  # seconds into the load
    seconds: int  # how long it lasts (the profile's `for`)
    engine: int | None = None
    share: float | None = None
    delay_ms: float | None = None
    mode: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        return cls(
            data["fault"],
            data["at"],
            data["for"],
            data.get("engine"),
            data.get("share"),
            data.get("delay_ms"),
            data.get("mode"),
        )

    @property
    def ends(self) -> int:
        return self.at + self.seconds

    @property
    def label(self) -> str:
        """How events.csv and the report name it: `hang engine-1`, `router_restart`."""
        return self.fault if self.engine is None else f"{self.fault} engine-{self.engine}"


@dataclass(frozen=True)
class FaultsScenario(SteadyLoadScenario):
    faults: tuple[Fault, ...]

    def __post_init__(self) -> None:
        # The profile gives mappings (lab.config.profile._typed); the kind works on Faults.
        typed = tuple(f if isinstance(f, Fault) else Fault.from_json(f) for f in self.faults)
        object.__setattr__(self, "faults", typed)


@register
class Faults(Kind):
    name = "faults"
    options = FaultsScenario
    figures = (LEVEL, RESILIENCE)
    gated = FIXED_GATE  # as failover's: two runs of the same faults, compared

    @classmethod
    def problems(cls, scenario: FaultsScenario, engines: Engines) -> list[Problem]:
        """Each fault inside the load, on an engine that exists, with only its own options;
        no two at once on one engine."""
        found: list[Problem] = []
        for index, fault in enumerate(scenario.faults):
            found += [
                (f".faults[{index}]{where}", what)
                for where, what in _fault_problems(fault, scenario.duration, engines.replicas)
            ]
        found += _overlaps(scenario.faults)
        return found

    @classmethod
    def levels(cls, scenario: FaultsScenario) -> list[Level]:
        return [steady_level(scenario)]


def _fault_problems(fault: Fault, duration: int, replicas: int) -> list[Problem]:
    found: list[Problem] = []
    if fault.ends > duration:
        found.append(
            (".for", f"the fault ends at {fault.ends} s, after the load ({duration} s): "
             "expected at + for <= duration")
        )  # fmt: skip
    if fault.fault in ON_AN_ENGINE:
        if fault.engine is None:
            found.append((".engine", f"a {fault.fault} fault needs the engine it acts on"))
        elif fault.engine >= replicas:
            found.append(
                (".engine", f"{fault.engine} is not an engine (expected 0..{replicas - 1})")
            )
    elif fault.engine is not None:
        found.append((".engine", f"a {fault.fault} fault acts on no engine: leave engine out"))
    for option in ("share", "delay_ms", "mode"):
        if getattr(fault, option) is not None and option not in OPTIONS[fault.fault]:
            allowed = ", ".join(OPTIONS[fault.fault]) or "none"
            found.append(
                (f".{option}", f"not an option of a {fault.fault} fault (its options: {allowed})")
            )
    return found


def _overlaps(faults: tuple[Fault, ...]) -> list[Problem]:
    """Two faults on one engine (or two of the router or of Prometheus) at once: which one the
    requests met could not be told apart."""
    found: list[Problem] = []
    for later, second in enumerate(faults):
        for earlier, first in enumerate(faults[:later]):
            same = first.engine == second.engine and (
                first.engine is not None or first.fault == second.fault
            )
            if same and first.at < second.ends and second.at < first.ends:
                found.append(
                    (f".faults[{later}]", f"overlaps faults[{earlier}] on the same "
                     f"{'engine' if first.engine is not None else 'component'} "
                     f"({first.at}-{first.ends} s and {second.at}-{second.ends} s)")
                )  # fmt: skip
    return found


def slow_settings(fault: Fault) -> dict[str, float]:
    """What the engine middleware is told for a slow fault (its defaults filled)."""
    if fault.delay_ms is None and fault.share is None:
        return {"first_chunk_ms": SLOW_DEFAULT_MS, "ttft_share": 0.0}
    return {"first_chunk_ms": fault.delay_ms or 0.0, "ttft_share": fault.share or 0.0}


def error_settings(fault: Fault) -> dict[str, Any]:
    """What the engine middleware is told for an errors fault."""
    return {"error_share": fault.share if fault.share is not None else 0.5,
            "error_mode": fault.mode or "http_500"}  # fmt: skip
