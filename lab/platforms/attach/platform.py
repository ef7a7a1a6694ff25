"""The attach platform: checks a stack someone else runs and records where it answers. It
changes nothing there; the only processes it starts are the port-forwards to a release on
Kubernetes, and `down` stops those and forgets the rest."""

from __future__ import annotations

import dataclasses
import shlex

from lab.config import kinds
from lab.config.profile import Profile
from lab.console import ok, say, warn
from lab.errors import ConfigError, LabError, StepFailed
from lab.platforms.attach import probe, release, target
from lab.platforms.attach.details import AttachDetails
from lab.platforms.kube.api import Api, ApiFactory, chosen_context
from lab.platforms.plan import Plan
from lab.runner import Runner
from lab.stack import endpoints, processes, state
from lab.stack.endpoints import Engine
from lab.stack.processes import Proc
from lab.stack.state import State


class AttachPlatform:
    name = "attach"

    def __init__(
        self,
        dry_run: bool = False,
        *,
        api: ApiFactory | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.dry_run = dry_run
        self.run = Runner(dry_run=dry_run)
        self.api_factory = api or Api
        self.ports = {**release.PORTS, **(ports or {})}
        self.found: probe.Found | None = None  # what `check` found, for `up`
        self.release: release.Release | None = None  # the release `check` found, for `up`

    def check(self, profile: Profile) -> None:
        """The target as input (exit 2), then, unless a dry run, as a stack that can be used
        (exit 1): nothing is written either way. A release on Kubernetes is looked up (reads
        only) even in a dry run, so that its plan names each port-forward exactly."""
        chosen = target.read(profile.resolved, profile.source)
        if chosen.kubernetes:
            self.release = self._find(profile)
            warn(announcement(profile, f"release {self.release.name} ({self.release.context})"))
        elif not target.loopback(chosen.router):
            warn(announcement(profile, chosen.router))
        if not chosen.verify and not chosen.ca_bundle:
            warn("target.tls.verify is false: certificates are not checked")
        if self.dry_run or chosen.kubernetes:  # a release is probed through its forwards, in up
            return
        self.found = probe.probe(chosen, profile.model.name)
        ok(f"target {chosen.router} serves {self.found.model} ({len(chosen.engines)} engines)")

    def _find(self, profile: Profile) -> release.Release:
        context, said = chosen_context(self.run)
        if not context:
            raise StepFailed(
                f"no kube context{f' (kubectl: {said})' if said else ''}: kubectl config "
                "use-context NAME, or set LAB_KUBE_CONTEXT"
            )
        namespace, name = profile.kubernetes.namespace, profile.kubernetes.release
        if self.dry_run:
            for read in release.reads(namespace, name):
                say(f"[dry-run] {read} (a read: done)")
        return release.find(self.api_factory(context), namespace, name)

    def plan(self, profile: Profile) -> Plan:
        chosen = target.read(profile.resolved, profile.source)
        plan = Plan(self.name)
        if chosen.kubernetes:
            found = self.release or self._find(profile)
            ports = release.local_ports(found, True, set(), self.ports)
            plan.ports = {f.name: port for f, port in zip(found.forwards, ports, strict=True)}
            plan.steps = release.reads(found.namespace, found.name) + [
                shlex.join(release.command(found, forward, port)) + " &"
                for forward, port in zip(found.forwards, ports, strict=True)
            ]
            routers = f"http://127.0.0.1:{ports[0]}"
            urls = [f"http://127.0.0.1:{port}" for port in ports[1:]]
        else:
            routers, urls = chosen.router, list(chosen.engines)
        plan.steps += [
            f"read (GET) {routers}/v1/models, /version and /metrics",
            *(f"read (GET) {url}/v1/models and /metrics" for url in urls),
            *([f"read (GET) {chosen.prometheus}/api/v1/query"] if chosen.prometheus else []),
            (
                "start only these port-forwards; create, change or delete nothing; write the "
                "state file with these endpoints"
                if chosen.kubernetes
                else "start nothing; write the state file with these endpoints"
            ),
        ]
        for step in plan.steps:
            say(f"[dry-run] {step}")
        return plan

    def up(self, profile: Profile) -> State:
        chosen = target.read(profile.resolved, profile.source)
        if chosen.kubernetes:
            return self._up_release(profile, chosen)
        return self._record(profile, chosen, [])

    def _up_release(self, profile: Profile, chosen: target.Target) -> State:
        """Forward to the release, then probe it through the forwards; a failure stops them."""
        found = self.release or self._find(profile)
        ports = release.local_ports(found, False, set(), self.ports)
        procs = release.start(found, ports, self.run)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            reached = dataclasses.replace(chosen, router=urls[0], engines=tuple(urls[1:]))
            return self._record(profile, reached, procs)
        except BaseException:
            release.stop(procs)
            raise

    def _record(self, profile: Profile, chosen: target.Target, procs: list[Proc]) -> State:
        found = self.found or probe.probe(chosen, profile.model.name)
        engines = [
            Engine(f"engine-{i}", url, chosen.prometheus if url in found.via_prometheus else "")
            for i, url in enumerate(chosen.engines)
        ]
        where = endpoints.build(
            profile,
            chosen.router,
            engines,
            prometheus=chosen.prometheus,
            router_metrics=found.router_kind.metrics,
            notes=(
                f"attached to {chosen.router}: the lab did not start this stack and never "
                "changes it; `down` forgets it",
                f"router: {found.router_kind}",
                *(
                    f"{url}: not reachable from here; its counters from {chosen.prometheus}"
                    for url in found.via_prometheus
                ),
                *_router_figures(found.router_kind),
                f"served: {', '.join(found.served)}; /version: {found.version or 'no answer'}",
            ),
        )
        where = dataclasses.replace(
            where, model=found.model, api_key_env=chosen.api_key_env, shared=True
        )
        details = AttachDetails(
            router=chosen.router,
            router_kind=found.router_kind.name,
            version=found.version,
            served=found.served,
        )
        current = State(
            self.name,
            profile.resolved,
            profile.source,
            endpoints=where,
            details=dataclasses.asdict(details) | {"served": list(found.served)},
            processes=procs,
        )
        state.save(current)
        return current

    def health(self, current: State) -> dict[str, str]:
        where = current.require_endpoints()
        chosen = target.read(current.profile, current.profile_source)
        reached = dataclasses.replace(
            chosen, router=where.router, engines=tuple(e.url for e in where.engines)
        )
        conditions = {
            proc.name: "running" if processes.alive(proc) else "port-forward not running"
            for proc in current.processes
        }
        try:
            probe.probe(reached, where.model)
        except LabError as exc:  # what keeps it from being used is its condition
            return conditions | {"target": f"unusable: {exc}"}
        return conditions | {"target": "answers"}

    def down(self, current: State, volumes: bool = False) -> list[str]:
        """Stop its own port-forwards, if any, and forget the rest."""
        if volumes:
            raise ConfigError("--volumes: the attach platform has no volumes of its own")
        router = current.endpoints.router if current.endpoints else "the target"
        line = f"forgot {router}: nothing there was stopped or changed"
        if self.dry_run:
            return [*(processes.planned_stop(p) for p in current.processes), f"[dry-run] {line}"]
        lines = release.stop(list(current.processes))
        state.clear()
        return [*lines, line]

    def kill_engine(self, current: State, index: int) -> str:
        raise ConfigError(_refused("kill engines"))

    def restart_engine(self, current: State, index: int, profile: Profile) -> str:
        raise ConfigError(_refused("restart engines"))

    def scale(self, current: State, replicas: int, profile: Profile) -> State:
        raise ConfigError(_refused("scale engines"))

    def restart_router(self, current: State, profile: Profile) -> str:
        raise ConfigError(_refused("restart the router"))


def _router_figures(kind: probe.RouterKind) -> tuple[str, ...]:
    """What the router's own figures (requests in flight per engine, prefix decisions) come
    from, or why they are n/a: said once, kept in the manifest."""
    if kind.metrics:
        return (f"the router's own figures: from {kind.metrics}",)
    if kind.name == probe.VLLM_ROUTER:
        return (
            "the router's own figures: n/a (set target.router_metrics to the base URL of "
            "vllm-router's --prometheus-port)",
        )
    return ("the router's own figures: n/a (the lab reads vllm-router's; this router has none)",)


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
