"""What `run --dry-run` (and `up --dry-run`, for the load) say the lab would do: each level's
Locust processes, and the objects it would apply for worker pods; nothing is started, written
or applied. Without a lab up, the plan is for the one the profile would bring up."""

from __future__ import annotations

import shlex
from pathlib import Path

from lab import platforms
from lab.config.kinds import Scenario
from lab.config.kinds import capacity as capacity_kind
from lab.config.kinds.plan import Level
from lab.config.profile import Profile
from lab.console import say
from lab.errors import ConfigError
from lab.load import capacity, levels, locust, replay
from lab.platforms import RemoteWorkers
from lab.runner import Runner
from lab.stack.endpoints import Endpoints
from lab.stack.state import State

PLACEHOLDER = "<this machine's address as the pods see it>"


def run_plan(profile: Profile, current: State | None, names: list[str], base: Path) -> None:
    """Say every level's Locust (and worker pods) of the named scenarios (all when none)."""
    current = current or planned(profile)
    chosen = [profile.scenario(n) for n in names] if names else list(profile.scenarios)
    if not chosen:
        raise ConfigError(f"{profile.source}: the profile has no scenarios to run")
    remote = _remote(profile, current)
    count = levels.processes(profile, current.platform)
    workers = count if count > 1 else 0
    words = levels.word_list(profile)
    folder = base / "<run>"
    endpoints = current.require_endpoints()
    replay.check(profile, chosen, endpoints.tokenizer)  # each trace read through, its figures said
    for scenario in chosen:
        for level in _levels(scenario):
            say(f"[dry-run] {scenario.name}/{level.name}: {level.users} users, up to "
                f"{level.run_time} s")  # fmt: skip
            port = locust.MASTER_PORT
            lead = locust.command(level, scenario, endpoints, folder / scenario.name, words,
                                  workers, port, remote)  # fmt: skip
            say(f"[dry-run] {shlex.join(lead)}")
            if remote and workers:
                argv = locust.pod_worker_command(level, scenario, endpoints, remote.master_host,
                                                 port)  # fmt: skip
                remote.start(level.name, workers, port, argv)
                continue
            for _ in range(workers):
                argv = locust.worker_command(level, scenario, endpoints, words, port=port)
                say(f"[dry-run] {shlex.join(argv)}")


def up_plan(profile: Profile, platform: str) -> None:
    """The load part of `up --dry-run`: how the levels' load will be made, and for worker pods
    what the first level applies."""
    count = levels.processes(profile, platform)
    if count == 1:
        say("[dry-run] load: one Locust process per level, here")
        return
    current = planned(profile, platform)
    remote = _remote(profile, current)
    if remote is None:
        say(f"[dry-run] load: per level a Locust master and {count} worker processes, here")
        return
    say(f"[dry-run] load: per level a Locust master here and {count} worker pods; "
        "`python -m lab run --dry-run` shows every level")  # fmt: skip
    scenario = next(iter(profile.scenarios), None)
    if scenario is not None:
        level = _levels(scenario)[0]
        argv = locust.pod_worker_command(level, scenario, current.require_endpoints(),
                                         remote.master_host, locust.MASTER_PORT)  # fmt: skip
        remote.start(level.name, count, locust.MASTER_PORT, argv)


def _levels(scenario: Scenario) -> list[Level]:
    """The levels known before the run: all of them, or a capacity search's first step (it
    plans the others as their results come in)."""
    if capacity.wanted(scenario):
        say(f"[dry-run] {scenario.name}: a capacity search; its first step, the rest planned as "
            "results come in")  # fmt: skip
        return [capacity_kind.level(scenario, scenario.start_rate)]
    return levels.levels(scenario)


def planned(profile: Profile, platform: str | None = None) -> State:
    """The lab the profile would bring up, as far as the plan needs it."""
    name = platform or platforms.choose(None, profile)[0]
    details = platforms.facts(name).planned(profile)
    endpoints = Endpoints(
        router="http://127.0.0.1:30080",
        engines=(),
        model=profile.model.name,
        routing=profile.router.routing,
        session_key=profile.router.session_key,
        api_key_env=profile.engine.api_key_env,
    )
    return State(name, profile.resolved, profile.source, endpoints=endpoints, details=details)


def _remote(profile: Profile, current: State) -> RemoteWorkers | None:
    """Cluster workers planned with a dry-run runner; this machine's address is asked where
    the platform can tell (a kind network exists), else left as a placeholder."""
    return platforms.cluster_workers(profile, current, Runner(dry_run=True), PLACEHOLDER)
