"""The faults of a faults scenario (lab.config.kinds.faults) as events on the stack: each fault
begins at its `at` (an event named after it, `hang engine-1`) and ends `for` seconds later (`hang
engine-1 end`), through what its platform declares (lab.platforms.protocol: the capability and
the hook behind it). lab.load.resilience runs them at their times and writes events.csv;
lab.results.fault_figures reads what they did.

What a platform cannot inject is refused before any load (`problems`), and the dry-run plan
says how each fault would be injected (`plan_lines`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lab import platforms
from lab.config.kinds.faults import Fault, FaultsScenario, error_settings, slow_settings
from lab.config.profile import Profile
from lab.errors import ConfigError, StepFailed
from lab.platforms.protocol import (
    ENGINE_FAULTS,
    HANG,
    KILL,
    PROMETHEUS_DOWN,
    RESTART,
    RESTART_ROUTER,
    ROUTER_UNDER_LOAD,
)
from lab.stack import fault_control
from lab.stack.state import State

NEEDS: dict[str, tuple[str, ...]] = {
    "kill": (KILL, RESTART),
    "hang": (HANG,),
    "slow": (ENGINE_FAULTS,),
    "errors": (ENGINE_FAULTS,),
    "router_restart": (ROUTER_UNDER_LOAD,),
    "prometheus_down": (PROMETHEUS_DOWN,),
}
END = " end"  # the suffix of the event that ends a fault
PROMETHEUS = "prometheus"  # the component a prometheus_down fault stops


def problems(scenario: FaultsScenario, profile: Profile, platform: str) -> list[str]:
    """What `platform` cannot inject of the scenario's faults, each naming the platform."""
    found = []
    where = f"{profile.source}: scenario {scenario.name} (faults)"
    for index, fault in enumerate(scenario.faults):
        for need in NEEDS[fault.fault]:
            if not platforms.can(platform, need):
                what = f"inject the {fault.fault} fault"
                found.append(f"{where}: faults[{index}]: {platforms.cannot(platform, need, what)}")
                break
        if fault.fault == "prometheus_down" and not profile.observability.prometheus:
            found.append(f"{where}: faults[{index}]: a prometheus_down fault needs the lab's "
                         "Prometheus: expected observability.prometheus: true")  # fmt: skip
    return found


def plan_lines(scenario: FaultsScenario, platform: str) -> list[str]:
    """How each fault would be injected on `platform`, for the dry-run plan."""
    means = dict(platforms.facts(platform).hooks.fault_means)
    return [
        f"{scenario.name}: {fault.label} at {fault.at} s for {fault.seconds} s: "
        f"{means.get(fault.fault, 'refused on ' + platform)}"
        for fault in scenario.faults
    ]


Action = Callable[[], str]


def events(
    scenario: FaultsScenario, platform: Any, current: State, profile: Profile
) -> list[tuple[int, str, Action]]:
    """(at, name, action) of every fault's beginning and end, in time order. What cannot be
    injected on the lab that is up (a `run` of another profile than the one it came up with)
    is refused here, before the load starts."""
    if refused := problems(scenario, profile, current.platform):
        raise ConfigError(refused)
    if any(f.fault in ("slow", "errors") for f in scenario.faults) and not fault_control.made():
        raise StepFailed(
            f"scenario {scenario.name}: slow and errors faults need the engines' run-time "
            "control, which is on only when the lab came up with a profile that has a faults "
            "scenario: bring it down and up with this profile"
        )
    found: list[tuple[int, str, Action]] = []
    for fault in scenario.faults:
        begin, end = _actions(fault, platform, current, profile)
        found.append((fault.at, fault.label, begin))
        if end is not None:
            found.append((fault.ends, fault.label + END, end))
    return sorted(found, key=lambda event: event[0])


def _actions(
    fault: Fault, platform: Any, current: State, profile: Profile
) -> tuple[Action, Action | None]:
    """What begins the fault and what ends it (None: it ends by itself)."""
    index = fault.engine if fault.engine is not None else -1
    name = f"engine-{index}"
    hooks = platforms.facts(current.platform).hooks
    if fault.fault == "kill":
        return (
            lambda: platform.kill_engine(current, index),
            lambda: platform.restart_engine(current, index, profile),
        )
    if fault.fault in ("hang", "prometheus_down"):
        assert hooks.pause is not None  # `problems` refused a platform without HANG
        pause = hooks.pause
        part = name if fault.fault == "hang" else PROMETHEUS
        if part == PROMETHEUS and not current.require_endpoints().prometheus:
            return (lambda: "no Prometheus runs in this lab: nothing to stop"), None
        if part == PROMETHEUS:
            return (lambda: pause(current, part, True)), (
                lambda: f"{pause(current, part, False)}; {missing_series(current)}"
            )
        return (lambda: pause(current, part, True)), (lambda: pause(current, part, False))
    if fault.fault in ("slow", "errors"):
        settings = slow_settings(fault) if fault.fault == "slow" else error_settings(fault)
        return (
            lambda: fault_control.set_faults(_url(current, name), settings),
            lambda: fault_control.set_faults(_url(current, name), {}),
        )
    return _router_restart(platform, current, profile), None


def _router_restart(platform: Any, current: State, profile: Profile) -> Action:
    if platforms.can(current.platform, RESTART_ROUTER):
        return lambda: platform.restart_router(current, profile)
    hook = platforms.facts(current.platform).hooks.restart_router_now
    assert hook is not None  # `problems` refused a platform without ROUTER_UNDER_LOAD
    return lambda: hook(current)


def missing_series(current: State) -> str:
    """What Prometheus lacks for the time it was down: every series of what it scrapes (the
    lab's own measurements, read from the engines and the router directly, go on)."""
    engines = ", ".join(engine.name for engine in current.require_endpoints().engines)
    return f"series missing while it was down: vllm:* of {engines}; vllm_router_* of the router"


def _url(current: State, name: str) -> str:
    return current.require_endpoints().engine(name).url
