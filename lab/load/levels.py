"""What load a scenario puts on the stack: its levels (one Locust run each), planned from the
profile alone, before anything runs."""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field

from lab import platforms
from lab.config import model
from lab.config.profile import (
    CapacityScenario,
    Profile,
    RoutingScenario,
    Scenario,
    SteadyLoadScenario,
    ThroughputScenario,
)
from lab.platforms.protocol import ENGINES_HERE

ANSWER_ALLOWANCE = 5  # seconds one routing round may take beyond its pacing
SETTLE = 30  # seconds of load after a resilience scenario's last event
EVENT_ALLOWANCE = 900  # seconds events (engine starts) may take beyond a scenario's duration


@dataclass(frozen=True)
class Level:
    """One Locust run: a locustfile at a given load for a given time."""

    name: str
    locustfile: str
    users: int
    spawn_rate: float
    run_time: int
    options: dict[str, str] = field(default_factory=dict)
    # Levels with events: load for at least `minimum` s, and `settle` s after the last event.
    minimum: int = 0
    settle: int = 0

    @property
    def rate(self) -> float | None:
        """Offered requests/s of an open-loop level; None for a closed loop."""
        rate = self.options.get("--lab-rate")
        return float(rate) if rate else None


def levels(scenario: Scenario) -> list[Level]:
    """The levels planned from the profile alone; a capacity search plans its own as it goes
    (lab.load.capacity), one capacity_level at a time."""
    if isinstance(scenario, RoutingScenario):
        return [_routing_level(scenario)]
    if isinstance(scenario, SteadyLoadScenario):
        return [_steady_level(scenario)]
    if isinstance(scenario, ThroughputScenario):
        return _throughput_levels(scenario)
    raise TypeError(f"{scenario.kind} scenarios plan their levels as they run")


def _steady_level(s: SteadyLoadScenario) -> Level:
    """Steady load (closed loop, or Poisson arrivals at `rate`) while the scenario's events
    happen. An engine may take minutes to load on a busy machine, so the load lasts until the
    last event is done and SETTLE seconds more (and at least `duration`), within
    EVENT_ALLOWANCE."""
    options = {
        "--lab-prompt-tokens": str(s.prompt_tokens),
        "--lab-output-tokens": str(s.output_tokens),
    }
    users = s.users
    if s.rate is not None:
        users = _open_loop_users(s.rate)
        options.update(arrivals(float(s.rate)))
    run_time = s.duration + EVENT_ALLOWANCE
    return Level(s.kind, "throughput.py", users, users, run_time, options, s.duration, SETTLE)


def _routing_level(s: RoutingScenario) -> Level:
    spawn_rate = max(1.0, s.users / 4)  # users join staggered, as in multi-round QA
    ramp = s.users / spawn_rate
    return Level(
        name="routing",
        locustfile="routing.py",
        users=s.users,
        spawn_rate=spawn_rate,
        # An upper bound only (the last conversation to end stops the run): a round takes its
        # pacing, or as long as a slow stack needs to answer (up to ANSWER_ALLOWANCE s).
        run_time=math.ceil(ramp + s.rounds * (1 / s.user_qps + ANSWER_ALLOWANCE) + 60),
        options={
            "--lab-rounds": str(s.rounds),
            "--lab-system-words": str(s.system_prompt_words),
            "--lab-history-words": str(s.history_words),
            "--lab-answer-tokens": str(s.answer_tokens),
            "--lab-user-qps": str(s.user_qps),
        },
    )


def _throughput_levels(s: ThroughputScenario) -> list[Level]:
    lengths = {
        "--lab-prompt-tokens": str(s.prompt_tokens),
        "--lab-output-tokens": str(s.output_tokens),
    }
    closed = [
        Level(f"c{c}", "throughput.py", c, c, s.duration, dict(lengths)) for c in s.concurrency
    ]
    opened = [
        Level(
            f"rate{rate:g}",
            "throughput.py",
            users := _open_loop_users(rate),
            users,
            s.duration,
            {**lengths, **arrivals(rate, s.burstiness)},
        )
        for rate in s.rates
    ]
    return closed + opened


def capacity_level(s: CapacityScenario, rate: float, again: bool = False) -> Level:
    """One step of a capacity search: open-loop arrivals at `rate` for the scenario's
    duration; `again` for the second probe of a rate (lab.load.capacity)."""
    users = capacity_users(rate, s)
    options = {
        "--lab-prompt-tokens": str(s.prompt_tokens),
        "--lab-output-tokens": str(s.output_tokens),
        **arrivals(rate, s.burstiness),
    }
    # All users at once: a schedule must not wait for users still joining (lag is measured).
    name = f"rate{rate:g}" + ("-again" if again else "")
    return Level(name, "throughput.py", users, users * 10, s.duration, options)


def arrivals(rate: float, burstiness: float = 1.0) -> dict[str, str]:
    """The Locust options of open-loop arrivals at `rate` requests/s, gaps of gamma shape
    `burstiness` (1: Poisson), for every open-loop level of every scenario kind: one schedule
    (lab.inproc.poisson), dealt out to the workers of a distributed level."""
    options = {"--lab-rate": str(float(rate))}
    if burstiness != 1:
        options["--lab-burstiness"] = str(float(burstiness))
    return options


MAX_USERS = 1000
UNBOUNDED_S = 10.0  # seconds a request may take when the SLO does not bound its latency


def capacity_users(rate: float, s: CapacityScenario) -> int:
    """Users enough for twice the requests that can be in flight at `rate` while every one of
    them meets the SLO (Little's law), so that the users run out only where the SLO has
    failed: a level passing its SLO with requests sent late was held back by its generator."""
    assert s.slo is not None
    bound_ms = s.slo.latency_bound_ms(s.output_tokens)
    seconds = bound_ms / 1000 if bound_ms is not None else UNBOUNDED_S
    return min(MAX_USERS, max(4, math.ceil(2 * rate * seconds)))


def _open_loop_users(rate: float) -> int:
    """Enough users that Poisson arrivals are seldom late (lateness is recorded per request
    anyway)."""
    return min(100, max(4, math.ceil(rate * 3)))


def processes(profile: Profile, platform: str, cores: int | None = None) -> int:
    """How many Locust processes make the load: the profile's load.processes, or for "auto"
    one per core of this machine the engines leave spare (engine.cpu cores per replica, on
    platforms that run them here), at least 1."""
    setting = profile.load.processes
    if setting != "auto":
        return int(setting)
    cores = cores or os.cpu_count() or 1
    here = platforms.can(platform, ENGINES_HERE)
    engines = profile.engine.replicas * profile.engine.cpu if here else 0
    return max(1, cores - engines)


def seed(scenario: Scenario) -> int | None:
    """The scenario's seed, or a fresh one: a run must not find its prompts already cached."""
    if isinstance(scenario, SteadyLoadScenario):
        return None
    return scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**30)


def word_list(profile: Profile) -> str:
    """The tiny model's one-token words, so prompt lengths in the profile are token counts."""
    if profile.model.is_tiny:
        words = model.tiny_dir() / model.WORDS_FILE
        if words.exists():
            return str(words)
    return ""
