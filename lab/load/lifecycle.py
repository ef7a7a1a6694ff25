"""Bringing a lab up and down on whichever platform, and the whole cycle `nox -s cpu-lab` runs:
up -> smoke -> routing check -> scenarios -> down.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from lab import platforms
from lab.config.kinds import FailoverScenario, FaultsScenario, ScaleScenario
from lab.config.profile import Profile
from lab.console import note, ok, say
from lab.errors import ConfigError, LabError
from lab.load import dryrun, faults, replay, scenarios
from lab.platforms import Plan, Platform
from lab.platforms.protocol import KILL, ONLY_PROCESSES, RESTART, RESTART_ROUTER, SCALE
from lab.stack import processes, routing_check, smoke, state
from lab.stack.state import State

# What the resilience events of a scenario ask of the platform.
EVENTS_NEED: dict[type, tuple[str, ...]] = {
    FailoverScenario: (KILL, RESTART),
    ScaleScenario: (SCALE,),
}


def plan(profile: Profile, requested_platform: str | None = None) -> Plan:
    """Check, then say what `up` would do (resolved as `up` resolves it); change nothing."""
    name, why = platforms.choose(requested_platform, profile)
    say(f"🧭 platform: {name} ({why})")
    platform = platforms.get(name, dry_run=True)
    _check_load(profile, name)
    platform.check(profile)
    planned = platform.plan(profile)
    for scenario in profile.scenarios:
        if isinstance(scenario, FaultsScenario):
            for line in faults.plan_lines(scenario, name):
                say(f"[dry-run] fault {line}")
    dryrun.up_plan(profile, name)
    return planned


def up(
    profile: Profile,
    requested_platform: str | None = None,
    run_smoke: bool = True,
) -> tuple[Platform, State]:
    """Check, then start the stack; refuse to start a twin of a lab that is already up. The
    platform that brought it up comes back with its state: scenarios use that one."""
    name, why = platforms.choose(requested_platform, profile)
    say(f"🧭 platform: {name} ({why})")
    platform = platforms.get(name)
    check(profile, platform)
    with state.locked():
        _refuse_twins()
        began = time.monotonic()
        current = platform.up(profile)
    where = current.require_endpoints()
    ok(f"stack up in {time.monotonic() - began:.1f} s: router at {where.router}")
    if profile.engine.test_delay:
        note(
            f"engine.test_delay {profile.engine.test_delay}: these engines are slowed on purpose "
            "(tests and calibration only); every results manifest records it"
        )
    if run_smoke:
        smoke.run(where)
    return platform, current


def check(profile: Profile, platform: Platform) -> None:
    """Everything `up` refuses before it starts anything: a state folder or file it cannot
    use, then what the platform cannot serve."""
    state.load()
    state.check_writable()
    _check_load(profile, platform.name)
    platform.check(profile)


def _check_load(profile: Profile, platform: str) -> None:
    """Worker pods need a platform that runs them, failover and scale scenarios one that can
    kill, restart and scale engines, faults scenarios one that can inject each of their
    faults: said before anything starts."""
    found = platforms.worker_problems(profile, platform)
    for scenario in profile.scenarios:
        needs = EVENTS_NEED.get(type(scenario), ())
        found += [f"{profile.source}: scenario {scenario.name} ({scenario.kind}): "
                  + platforms.cannot(platform, need, f"{need} engines") for need in needs
                  if not platforms.can(platform, need)]  # fmt: skip
        if isinstance(scenario, FaultsScenario):
            found += faults.problems(scenario, profile, platform)
    if found:
        raise ConfigError(found)


def down(dry_run: bool = False, volumes: bool = False) -> bool:
    """Stop what the running lab started (and, with `volumes`, remove its volumes, where the
    platform has any); False when nothing was up. Nothing is written when nothing is up, nor
    in a dry run (not even the lock)."""
    if state.load() is None:
        return False
    with contextlib.nullcontext() if dry_run else state.locked():
        current = state.load()  # again under the lock: another `down` may have finished
        if current is None:
            return False
        platform = platforms.get(current.platform, dry_run=dry_run)
        for line in platform.down(current, volumes=volumes):
            say(f"🧹 {line}")
    return True


def restart_router(profile: Profile) -> None:
    """The running lab's router again, with `profile`'s router settings; engines untouched.
    Only where the router is a process of its own (RESTART_ROUTER); elsewhere the platform
    refuses."""
    state.require()  # nothing up: said before anything (a lock file) is written
    with state.locked():
        current = state.require()
        if platforms.facts(current.platform).stranger:
            raise ConfigError(
                platforms.cannot(current.platform, RESTART_ROUTER, "restart the router")
            )
        ok(platforms.get(current.platform).restart_router(current, profile))


def cycle(
    profile: Profile,
    requested_platform: str | None = None,
    keep: bool = False,
    scenario_names: list[str] | None = None,
    results_base: Path = Path("results"),
) -> State:
    """up -> smoke -> routing check -> scenarios -> down (unless keep). Raises on a failed step;
    the stack is torn down whatever happened."""
    chosen = [profile.scenario(n) for n in scenario_names or []] or list(profile.scenarios)
    replay.check(profile, chosen)  # a bad trace is refused before anything starts, not after
    platform, current = up(profile, requested_platform, run_smoke=False)
    try:
        # Smoke inside the try: a stack that fails it comes down like any other failed cycle.
        smoke.run(current.require_endpoints())
        routing_check.run(current.require_endpoints())
        if profile.scenarios:
            scenarios.run(profile, current, scenario_names or [], results_base, platform)
        else:
            note(f"{profile.source} has no scenarios: nothing to load the stack with")
    finally:
        if keep:
            note("--keep: the stack stays up; `python -m lab down` stops it")
        else:
            down()
    return current


def _refuse_twins() -> None:
    existing = state.load()
    if existing is None:
        return
    # Only a local lab is nothing but its processes; elsewhere a dead port-forward says nothing
    # of the cluster or containers, which `down` must still remove.
    local = platforms.can(existing.platform, ONLY_PROCESSES)
    if local and not any(processes.alive(p) for p in existing.processes):
        note(f"a previous lab ({existing.profile['name']}) left a state file but nothing runs")
        state.clear()
        return
    router = existing.endpoints.router if existing.endpoints else "still starting"
    raise LabError(
        f"a lab is already up here ({existing.profile['name']} on {existing.platform}, "
        f"router {router}): run `python -m lab down` first, or use another LAB_STATE_DIR"
    )
