"""Bringing a lab up and down on whichever platform, and the whole cycle `nox -s cpu-lab` runs:
up -> smoke -> routing check -> scenarios -> down.
"""

from __future__ import annotations

import time
from pathlib import Path

from lab import platforms
from lab.config.profile import Profile
from lab.console import note, ok, say
from lab.errors import ConfigError, LabError
from lab.load import plan, scenarios
from lab.platforms.kube import loadgen
from lab.stack import processes, routing_check, smoke, state
from lab.stack.state import State


def up(
    profile: Profile,
    requested_platform: str | None = None,
    run_smoke: bool = True,
    dry_run: bool = False,
) -> State | None:
    """Check, then start the stack; refuse to start a twin of a lab that is already up.
    A dry run prints the plan and returns None."""
    name, why = platforms.choose(requested_platform, profile)
    say(f"🧭 platform: {name} ({why})")
    platform = platforms.get(name, dry_run=dry_run)
    if found := loadgen.problems(profile, name):
        raise ConfigError(found)  # worker pods need a Kubernetes platform: said before anything
    platform.check(profile)
    if dry_run:
        planned = platform.up(profile)
        plan.up_plan(profile, name)
        return planned
    with state.locked():
        _refuse_twins()
        began = time.monotonic()
        current = platform.up(profile)
    ok(f"stack up in {time.monotonic() - began:.1f} s: router at {current.endpoints.router}")
    if run_smoke:
        smoke.run(current.endpoints)
    return current


def down(dry_run: bool = False, volumes: bool = False) -> bool:
    """Stop what the running lab started (and, with `volumes`, remove its volumes, where the
    platform has any); False when nothing was up."""
    with state.locked():
        current = state.load()
        if current is None:
            return False
        platform = platforms.get(current.platform, dry_run=dry_run)
        for line in platform.down(current, volumes=volumes):
            say(f"🧹 {line}")
    return True


def cycle(
    profile: Profile,
    requested_platform: str | None = None,
    keep: bool = False,
    scenario_names: list[str] | None = None,
    results_base: Path = Path("results"),
) -> State:
    """up -> smoke -> routing check -> scenarios -> down (unless keep). Raises on a failed step;
    the stack is torn down whatever happened."""
    current = up(profile, requested_platform)
    try:
        routing_check.run(current.endpoints)
        if profile.scenarios:
            scenarios.run(profile, current, scenario_names or [], results_base)
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
    local = existing.platform == "local"
    if local and not any(processes.alive(p) for p in existing.processes):
        note(f"a previous lab ({existing.profile['name']}) left a state file but nothing runs")
        state.clear()
        return
    router = existing.endpoints.router if existing.endpoints else "still starting"
    raise LabError(
        f"a lab is already up here ({existing.profile['name']} on {existing.platform}, "
        f"router {router}): run `python -m lab down` first, or use another LAB_STATE_DIR"
    )
