"""Running a profile's scenarios against the stack that is up: one headless Locust run per load
level (one process, or a master and its workers), the engines' counters read before and after
each, results written as they come.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lab import platforms
from lab.config.kinds import FailoverScenario, ReplayScenario, RoutingScenario, Scenario
from lab.config.kinds.steady import SteadyLoadScenario
from lab.config.profile import Profile
from lab.config.timeouts import Timeouts
from lab.console import bad, note, ok, say
from lab.errors import LabError, StepFailed
from lab.inproc import chat_tokens
from lab.load import capacity, gauges, levels, locust, progress, replay, resilience, soak
from lab.platforms import Platform
from lab.results import figures, replay_figures, report, series
from lab.results import folder as results
from lab.results import manifest as manifests
from lab.stack import metrics
from lab.stack.endpoints import Engine
from lab.stack.state import State


def run(
    profile: Profile,
    current: State,
    names: list[str],
    base: Path,
    platform: Platform | None = None,
) -> Path:
    """Run the named scenarios (all when none) into a new results folder; return the folder.
    Resilience events act through `platform`, the one that brought the stack up (`run` in a
    later shell has only the state: it gets the platform the state names).

    Ctrl-C stops the Locust process, marks the scenario interrupted and keeps every file.
    """
    endpoints = current.require_endpoints()
    platform = platform or platforms.get(current.platform)
    chosen = [profile.scenario(n) for n in names] if names else list(profile.scenarios)
    if not chosen:
        raise LabError(f"{profile.source}: the profile has no scenarios to run")
    if endpoints.tokenizer and any(isinstance(s, RoutingScenario) for s in chosen):
        chat_tokens.tokenizer(endpoints.tokenizer)  # refused here, not by every request
    replay.check(profile, chosen, endpoints.tokenizer)  # a bad trace: before anything is written
    generator = _generator(profile, current)
    folder = results.create(base, profile)
    images = platforms.images(current.platform, profile)
    recorder = manifests.Recorder(folder, manifests.start(profile, current, images))
    say(f"📁 results: {folder}")
    words = levels.word_list(profile)
    status = "running"
    try:
        for scenario in chosen:
            _run_scenario(scenario, profile, current, platform, recorder, words, generator)
        failed = [s.name for s in recorder.manifest.scenarios if s.status == "failed"]
        status = "failed" if failed else "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        recorder.finish(status)
        report.write(folder)
        say(f"📊 report: {folder / 'report.html'}")
    if status == "failed":
        raise StepFailed(f"scenario(s) failed: {', '.join(failed)} (results in {folder})")
    return folder


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a level, raised once its load has stopped: which level, and the seconds
    stopping took."""

    def __init__(self, level: str, seconds: float) -> None:
        super().__init__(level, seconds)
        self.level = level
        self.seconds = seconds


@dataclass(frozen=True)
class Generator:
    """How every level's load is made: `workers` workers of a master (0: one process alone),
    on this machine or `remote` (pods), each request within the client's `timeouts`."""

    workers: int
    remote: platforms.RemoteWorkers | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)


def _generator(profile: Profile, current: State) -> Generator:
    """The profile's load generator on the lab that is up, said once; what cannot run is
    refused before any level starts."""
    remote = platforms.cluster_workers(profile, current)
    count = levels.processes(profile, current.platform)
    if count == 1:
        say("🦗 load: one Locust process")
        return Generator(0, timeouts=profile.load.timeouts)
    where = "pods beside the stack" if remote else "processes here"
    say(f"🦗 load: a Locust master and {count} workers, {where} (load.processes: "
        f"{profile.load.processes})")  # fmt: skip
    return Generator(count, remote, profile.load.timeouts)


def _run_scenario(
    scenario: Scenario,
    profile: Profile,
    current: State,
    platform: Platform,
    recorder: manifests.Recorder,
    words: str,
    generator: Generator,
) -> None:
    seed = levels.seed(scenario)
    entry = recorder.begin(scenario.name, scenario.kind, seed)
    place = recorder.folder / scenario.name
    place.mkdir()
    units: dict[str, dict] = {}
    status, error = "running", ""
    search = capacity.Search(scenario, place, units) if capacity.wanted(scenario) else None
    planned: Iterable[levels.Level] = search if search is not None else levels.levels(scenario)
    trace = None
    if isinstance(scenario, ReplayScenario):
        trace, options = replay.schedule(
            scenario, profile, place, current.require_endpoints().tokenizer
        )
        planned = [replay.with_schedule(level, options) for level in planned]
    try:
        for index, level in enumerate(planned):
            if search is not None:
                gauges.wait_idle(current.require_endpoints())  # not the last step's queue
            say(f"🦗 {scenario.name}/{level.name}: {level.users} users, up to {level.run_time} s")
            events = _events(scenario, profile, current, platform)
            engine = _target(scenario, current)
            # Each level its own prompts: a level must not hit what the one before cached.
            level_seed = None if seed is None else seed + index
            deltas = _run_level(
                level, scenario, current, place, words, events, level_seed, generator
            )
            results.write_engines(place / "engines.csv", level.name, deltas)
            entry.levels.append(level.name)
            units[level.name] = figures.summarize_level(
                place,
                level.name,
                deltas,
                scenario.kind,
                engine,
                scenario.slo,
                figures.offered(level),
                shared=current.require_endpoints().shared,
            )
            progress.say_level(scenario.name, level.name, units[level.name])
            if trace is not None and isinstance(scenario, ReplayScenario):
                units[level.name][replay_figures.KEY] = replay.against(
                    scenario, level.name, trace, units[level.name]
                )
            recorder.save()
            soak.judge(scenario, place, level.name, deltas)
        status, error = "completed", ""
    except KeyboardInterrupt as exc:
        status, error = "interrupted", "Ctrl-C"
        if isinstance(exc, Interrupted):  # the manifest keeps how long the load took to stop
            error = f"Ctrl-C at {exc.level}: load stopped in {exc.seconds:.2f} s"
        raise
    except StepFailed as exc:
        status, error = "failed", str(exc)
        bad(f"{scenario.name}: {exc}")
    finally:
        recorder.end(entry, status, error)
        found = None
        if search is not None:
            found = search.result()
            (ok if found["capacity_rps"] is not None else note)(
                f"{scenario.name}: {found['statement']}"
            )
        figures.write(place, units, scenario.slo, found)


def _events(
    scenario: Scenario, profile: Profile, current: State, platform: Platform
) -> list[resilience.Event]:
    if not isinstance(scenario, SteadyLoadScenario):
        return []
    return resilience.plan(scenario, platform, current, profile)


def _target(scenario: Scenario, current: State) -> Engine | None:
    """The engine a failover scenario kills."""
    if isinstance(scenario, FailoverScenario):
        return current.require_endpoints().engines[scenario.engine]
    return None


def _router_check_interval(current: State) -> int:
    """Seconds between vllm-router's health checks (the router of a platform that always runs
    it, or chosen): the load goes on until it has taken back every live worker, so that this
    is seen; 0 for a router that does not check."""
    router = current.profile["router"]
    if (platforms.facts(current.platform).router or router["implementation"]) == "vllm-router":
        return router["health_check_interval"]
    return 0


def _run_level(
    level: levels.Level,
    scenario: Scenario,
    current: State,
    place: Path,
    words: str,
    events: list[resilience.Event],
    seed: int | None,
    generator: Generator,
) -> dict[str, dict[str, float]]:
    endpoints = current.require_endpoints()
    (place / level.name).mkdir()
    before = gauges.counters(endpoints.engines)
    stop_file = place / level.name / ".stop"
    # The master hands its options to its workers with their users: the limits reach them all.
    extra = ["--lab-stop-file", str(stop_file), *generator.timeouts.options()]
    if seed is not None:
        extra += ["--lab-seed", str(seed)]
    log = place / level.name / "locust.log"
    began = time.time()
    swarm = locust.start(
        level, scenario, endpoints, place, words, generator.workers, extra, generator.remote
    )
    try:
        with (
            gauges.sampling(endpoints, place / series.FILE, level.name),
            soak.sampling(scenario, current, swarm.processes, place, level.name),
        ):
            if events:
                resilience.inject(events, began, place, current)
                # Read again: a scale event changed the engines since the level began.
                now_up = current.require_endpoints()
                resilience.await_router(now_up, _router_check_interval(current))
                end = max(began + level.minimum, time.time() + level.settle)
                time.sleep(max(0.0, end - time.time()))
                stop_file.touch()  # Locust ends the run and writes its files
            code = swarm.wait(timeout=level.run_time + locust.STOP_TIMEOUT + 120)
    except KeyboardInterrupt:
        stopped = swarm.abort(stop_file)
        say(f"⏹️  Ctrl-C: {level.name}'s load stopped in {stopped:.2f} s; what was measured is kept")
        raise Interrupted(level.name, stopped) from None
    except subprocess.TimeoutExpired:
        swarm.stop(stop_file)
        raise StepFailed(f"Locust did not finish {level.name} in time (log: {log})") from None
    finally:
        stop_file.unlink(missing_ok=True)
    if code != 0:
        raise StepFailed(f"Locust exited {code} at {level.name}; see {log}")
    return metrics.delta(gauges.counters(current.require_endpoints().engines), before)
