"""The attach platform: checks a stack someone else runs and records where it answers. It
starts nothing, stops nothing and changes nothing there; `down` forgets it."""

from __future__ import annotations

import dataclasses

from lab.config import kinds
from lab.config.profile import Profile
from lab.console import ok, say, warn
from lab.errors import ConfigError, LabError
from lab.platforms.attach import probe, target
from lab.platforms.attach.details import AttachDetails
from lab.platforms.plan import Plan
from lab.stack import endpoints, state
from lab.stack.endpoints import Engine
from lab.stack.state import State


class AttachPlatform:
    name = "attach"

    def __init__(self, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        self.found: probe.Found | None = None  # what `check` found, for `up`

    def check(self, profile: Profile) -> None:
        """The target as input (exit 2), then, unless a dry run, as a stack that can be used
        (exit 1): nothing is written either way."""
        chosen = target.read(profile.resolved, profile.source)
        if not target.loopback(chosen.router):
            warn(announcement(profile, chosen.router))
        if not chosen.verify and not chosen.ca_bundle:
            warn("target.tls.verify is false: certificates are not checked")
        if self.dry_run:  # the plan says what would be read; a dry run asks nothing
            return
        self.found = probe.probe(chosen, profile.model.name)
        ok(f"target {chosen.router} serves {self.found.model} ({len(chosen.engines)} engines)")

    def plan(self, profile: Profile) -> Plan:
        chosen = target.read(profile.resolved, profile.source)
        plan = Plan(self.name)
        plan.steps = [
            f"read (GET) {chosen.router}/v1/models, /version and /metrics",
            *(f"read (GET) {url}/v1/models and /metrics" for url in chosen.engines),
            *([f"read (GET) {chosen.prometheus}/api/v1/query"] if chosen.prometheus else []),
            "start nothing; write the state file with these endpoints",
        ]
        for step in plan.steps:
            say(f"[dry-run] {step}")
        return plan

    def up(self, profile: Profile) -> State:
        chosen = target.read(profile.resolved, profile.source)
        found = self.found or probe.probe(chosen, profile.model.name)
        engines = [Engine(f"engine-{i}", url) for i, url in enumerate(chosen.engines)]
        where = endpoints.build(
            profile,
            chosen.router,
            engines,
            prometheus=chosen.prometheus,
            notes=(
                f"attached to {chosen.router}: the lab did not start this stack and never "
                "changes it; `down` forgets it",
                f"router: {found.router_kind}",
                f"served: {', '.join(found.served)}; /version: {found.version or 'no answer'}",
            ),
        )
        where = dataclasses.replace(
            where, model=found.model, api_key_env=chosen.api_key_env, shared=True
        )
        details = AttachDetails(
            router=chosen.router,
            router_kind=found.router_kind,
            version=found.version,
            served=found.served,
        )
        current = State(
            self.name,
            profile.resolved,
            profile.source,
            endpoints=where,
            details=dataclasses.asdict(details) | {"served": list(found.served)},
        )
        state.save(current)
        return current

    def health(self, current: State) -> dict[str, str]:
        chosen = target.read(current.profile, current.profile_source)
        try:
            probe.probe(chosen, current.require_endpoints().model)
        except LabError as exc:  # what keeps it from being used is its condition
            return {"target": f"unusable: {exc}"}
        return {"target": "answers"}

    def down(self, current: State, volumes: bool = False) -> list[str]:
        if volumes:
            raise ConfigError("--volumes: the attach platform has no volumes of its own")
        router = current.endpoints.router if current.endpoints else "the target"
        line = f"forgot {router}: nothing there was stopped or changed"
        if self.dry_run:
            return [f"[dry-run] {line}"]
        state.clear()
        return [line]

    def kill_engine(self, current: State, index: int) -> str:
        raise ConfigError(_refused("kill engines"))

    def restart_engine(self, current: State, index: int, profile: Profile) -> str:
        raise ConfigError(_refused("restart engines"))

    def scale(self, current: State, replicas: int, profile: Profile) -> State:
        raise ConfigError(_refused("scale engines"))

    def restart_router(self, current: State, profile: Profile) -> str:
        raise ConfigError(_refused("restart the router"))


def _refused(what: str) -> str:
    # The registry (lab.platforms.cannot) names the platforms that can; the lifecycle says it
    # before anything reaches here.
    return f"the attach platform cannot {what}: the lab did not start this stack"


def announcement(profile: Profile, router: str) -> str:
    """Said before any load reaches a machine that is not this one: where, and how much at most
    (the planned peak rate and concurrency of the profile's scenarios)."""
    rates: list[float] = []
    users: list[int] = []
    for scenario in profile.scenarios:
        try:
            planned = kinds.get(scenario.kind).levels(scenario)
        except TypeError:  # a capacity search plans as it goes, up to its max_rate
            rates.append(float(getattr(scenario, "max_rate", 0.0)))
            continue
        rates += [level.rate for level in planned if level.rate is not None]
        users += [level.users for level in planned]
    rate = f"{max(rates):g} requests/s" if rates else "no open-loop rate"
    return (
        f"load goes to {router}, not this machine: planned peak {rate}, "
        f"{max(users, default=0)} concurrent users (Ctrl-C stops it)"
    )
