"""What a platform is (the `Platform` protocol) and what it declares about itself, so that the
rest of the lab asks instead of comparing names: its capabilities, its typed details, what a dry
run assumes, its command-line shorthands, and the hooks behind the capabilities only some
platforms have. lab.platforms holds them all in one registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lab.errors import ConfigError

if TYPE_CHECKING:
    from lab.config.profile import Profile
    from lab.platforms.plan import Plan
    from lab.runner import Runner
    from lab.stack.drain import Drained
    from lab.stack.state import State

# What a platform can do; the lab asks `can(name, CAPABILITY)` instead of naming platforms.
KILL = "kill"  # hard-kill an engine as a crash would
RESTART = "restart"  # start a killed engine again
SCALE = "scale"  # change the number of engines, telling the router
RESTART_ROUTER = "restart-router"  # start the router again, engines untouched
CLUSTER_WORKERS = "cluster workers"  # Locust workers as pods beside the stack
MONITORING = "monitoring"  # `monitor` finds Prometheus and Grafana and can forward to them
IMAGES = "images"  # `images build` builds the container images it runs
HELM = "helm"  # it installs the production-stack chart (`values` renders for it)
GRAFANA = "grafana"  # it can run Grafana at all
ENGINES_HERE = "engines here"  # its engines run on this machine, beside the load generator
SIDE_BY_SIDE = "side by side"  # two stacks at once on one machine (`ab --concurrent`)
ONLY_PROCESSES = "only processes"  # a lab here is nothing but its processes
# Faults a faults scenario injects (lab.load.faults), beyond KILL and RESTART.
HANG = "hang"  # stop an engine's processes (or container) and let them go on later
ENGINE_FAULTS = "engine faults"  # slow down or fail an engine's answers (the lab's middleware)
ROUTER_UNDER_LOAD = "router restart under load"  # restart the router while load runs
PROMETHEUS_DOWN = "prometheus down"  # stop the stack's Prometheus and bring it back
CAPABILITIES = (
    KILL,
    HELM,
    RESTART,
    SCALE,
    RESTART_ROUTER,
    CLUSTER_WORKERS,
    MONITORING,
    IMAGES,
    GRAFANA,
    ENGINES_HERE,
    SIDE_BY_SIDE,
    ONLY_PROCESSES,
    HANG,
    ENGINE_FAULTS,
    ROUTER_UNDER_LOAD,
    PROMETHEUS_DOWN,
)


class Platform(Protocol):
    """`plan` prints and returns what `up` would do and changes nothing. A platform built with
    `dry_run` has `down` print its plan instead of acting."""

    name: str

    def check(self, profile: Profile) -> None:
        """Refuse, before anything is started, a profile or a machine this platform cannot serve;
        name each missing prerequisite and how to get it."""

    def plan(self, profile: Profile) -> Plan:
        """What `up` would do, resolved as `up` would resolve it (the model, free ports); said
        with a [dry-run] prefix and returned. Saves no state, starts nothing."""

    def up(self, profile: Profile) -> State:
        """Bring the stack up and return its state (saved as it goes) with its endpoints."""

    def health(self, state: State) -> dict[str, str]:
        """{component: condition} as the platform sees it (process running, pod phase, ...)."""

    def down(self, state: State, volumes: bool = False) -> list[str]:
        """Stop or delete only what the lab created; one line per thing, said as done. With
        `volumes`, its volumes too (a platform without any refuses)."""

    def kill_engine(self, state: State, index: int) -> str:
        """Hard-kill engine `index` as a crash would; say what was killed."""

    def restart_engine(self, state: State, index: int, profile: Profile) -> str:
        """Start engine `index` again and wait until it serves; say what was started."""

    def scale(self, state: State, replicas: int, profile: Profile) -> State:
        """Run `replicas` engines, telling the router; removed engines drain first."""

    def restart_router(self, state: State, profile: Profile) -> str:
        """Start the router again with `profile`'s router settings, engines untouched; say what
        was started. A platform without RESTART_ROUTER refuses, saying how to change them."""


class RemoteWorkers(Protocol):
    """Locust workers that run elsewhere (pods), started and stopped around each level."""

    @property
    def master_host(self) -> str:
        """How they dial the master."""

    @property
    def router(self) -> str:
        """The router as they reach it."""

    def start(self, level: str, workers: int, port: int, command: list[str]) -> None: ...

    def stop(self, level: str) -> None: ...


@dataclass(frozen=True)
class Details:
    """The platform-specific facts of a state file, typed; each platform extends it. Read from
    the state's `details` (which the state schema checks on every read)."""

    drains: tuple[Drained, ...] = ()  # engines removed by `scale`, each drained first

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Details:
        return cls(drains=drains(data))


def drains(data: dict[str, Any]) -> tuple[Drained, ...]:
    """The drains a state's details recorded."""
    from lab.stack.drain import Drained

    return tuple(
        Drained(
            d["engine"],
            d["began"],
            d["seconds"],
            d["complete"],
            tuple(d.get("signals", ())),
            d.get("last", {}),
        )
        for d in data.get("drains", [])
    )


@dataclass(frozen=True)
class Shorthand:
    """A command-line option a platform adds to every verb that reads a profile: `--flag VALUE`
    is `--set SETTING=VALUE` (e.g. a platform that reaches a remote stack: `--target URL`)."""

    flag: str
    setting: str
    metavar: str
    help: str
    platform: str = ""  # the platform the option also chooses (as --set platform=NAME)


@dataclass(frozen=True)
class Hooks:
    """What stands behind the capabilities only some platforms have (None: not this one)."""

    # CLUSTER_WORKERS: what keeps them from running on a profile, and the workers themselves
    # (a dry run that cannot ask where this machine is says the placeholder given instead).
    worker_problems: Callable[[Profile, str], list[str]] | None = None
    workers: Callable[[Profile, State, Runner | None, str], RemoteWorkers] | None = None
    # MONITORING: show (and with port_forward, forward) Prometheus and Grafana.
    monitor: Callable[[State, bool, dict[str, int] | None], None] | None = None
    # IMAGES: build the images (`images build NAME...`), dry run or not.
    build_images: Callable[[list[str], bool], None] | None = None
    # HANG and PROMETHEUS_DOWN: stop a component ("engine-1", "prometheus") as it is, without
    # killing it (True), or let it go on (False); say what was done.
    pause: Callable[[State, str, bool], str] | None = None
    # ROUTER_UNDER_LOAD where the router is not a process the lab restarts (RESTART_ROUTER):
    # restart it where it runs (a Deployment's rollout) and say so.
    restart_router_now: Callable[[State], str] | None = None
    # How each fault it can inject is injected, for the dry-run plan (fault name: how).
    fault_means: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Facts:
    """One platform as the registry holds it."""

    name: str
    make: Callable[[bool], Platform]  # the platform, built for a dry run or not
    capabilities: frozenset[str]
    details: type[Details] = Details
    # The details a dry run assumes when no lab is up (what its load plan needs of them).
    planned: Callable[[Profile], dict[str, Any]] = lambda profile: {}
    images: Callable[[Profile], list[str]] = lambda profile: []  # image:tag it runs
    router: str = ""  # the router it always runs, whatever the profile asks ("": as asked)
    shorthands: tuple[Shorthand, ...] = ()
    # Why it lacks what others can do, said when a scenario or verb needs it ("": it just can't).
    stranger: str = ""
    hooks: Hooks = field(default_factory=Hooks)

    def __post_init__(self) -> None:
        unknown = self.capabilities - set(CAPABILITIES)
        if unknown:
            raise ConfigError(f"platform {self.name}: unknown capabilities {sorted(unknown)}")
