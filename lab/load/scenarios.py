"""Running a profile's scenarios against the stack that is up: one headless Locust run per load
level (one process, or a master and its workers), the engines' counters read before and after
each, results written as they come.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lab import platforms
from lab.config.profile import (
    FailoverScenario,
    Profile,
    RoutingScenario,
    Scenario,
    SteadyLoadScenario,
)
from lab.config.slo import Slo
from lab.console import bad, note, ok, say
from lab.errors import LabError, StepFailed
from lab.inproc import chat_tokens
from lab.inproc.samples import CPU_FILE
from lab.load import capacity, gauges, levels, locust, resilience
from lab.platforms import Platform
from lab.results import folder as results
from lab.results import report, resilience_figures, series, summary
from lab.stack import metrics
from lab.stack.endpoints import Engine
from lab.stack.state import State

COUNTER_NAMES = {
    metrics.SERVED: "requests",
    metrics.PROMPT_TOKENS: "prompt_tokens",
    metrics.GENERATION_TOKENS: "generation_tokens",
    metrics.PREFIX_QUERIES: "prefix_cache_queries",
    metrics.PREFIX_HITS: "prefix_cache_hits",
}


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
    generator = _generator(profile, current)
    folder = results.create(base, profile)
    images = platforms.images(current.platform, profile)
    manifest = results.start_manifest(profile, current, images)
    results.save_manifest(folder, manifest)
    say(f"📁 results: {folder}")
    words = levels.word_list(profile)
    try:
        for scenario in chosen:
            _run_scenario(scenario, profile, current, platform, folder, manifest, words, generator)
        failed = [s["name"] for s in manifest["scenarios"] if s["status"] == "failed"]
        manifest["status"] = "failed" if failed else "completed"
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
        raise
    finally:
        manifest["ended"] = results.now()
        results.save_manifest(folder, manifest)
        report.write(folder)
        say(f"📊 report: {folder / 'report.html'}")
    if manifest["status"] == "failed":
        raise StepFailed(f"scenario(s) failed: {', '.join(failed)} (results in {folder})")
    return folder


@dataclass(frozen=True)
class Generator:
    """How every level's load is made: `workers` workers of a master (0: one process alone),
    on this machine or `remote` (pods)."""

    workers: int
    remote: platforms.RemoteWorkers | None = None


def _generator(profile: Profile, current: State) -> Generator:
    """The profile's load generator on the lab that is up, said once; what cannot run is
    refused before any level starts."""
    remote = platforms.cluster_workers(profile, current)
    count = levels.processes(profile, current.platform)
    if count == 1:
        say("🦗 load: one Locust process")
        return Generator(0)
    where = "pods beside the stack" if remote else "processes here"
    say(f"🦗 load: a Locust master and {count} workers, {where} (load.processes: "
        f"{profile.load.processes})")  # fmt: skip
    return Generator(count, remote)


def _run_scenario(
    scenario: Scenario,
    profile: Profile,
    current: State,
    platform: Platform,
    folder: Path,
    manifest: dict,
    words: str,
    generator: Generator,
) -> None:
    seed = levels.seed(scenario)
    entry: dict[str, Any] = {
        "name": scenario.name,
        "kind": scenario.kind,
        "status": "running",
        "started": results.now(),
        "ended": None,
        "levels": [],
        "error": "",
        "seed": seed,
    }
    manifest["scenarios"].append(entry)
    results.save_manifest(folder, manifest)
    place = folder / scenario.name
    place.mkdir()
    units: dict[str, dict] = {}
    search = capacity.Search(scenario, place, units) if capacity.wanted(scenario) else None
    planned: Iterable[levels.Level] = search if search is not None else levels.levels(scenario)
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
            entry["levels"].append(level.name)
            units[level.name] = summarize_level(
                place, level.name, deltas, scenario.kind, engine, scenario.slo, level_load(level)
            )
            say_level(scenario.name, level.name, units[level.name])
            results.save_manifest(folder, manifest)
        entry["status"] = "completed"
    except KeyboardInterrupt:
        entry["status"], entry["error"] = "interrupted", "Ctrl-C"
        raise
    except StepFailed as exc:
        entry["status"], entry["error"] = "failed", str(exc)
        bad(f"{scenario.name}: {exc}")
    finally:
        entry["ended"] = results.now()
        written: dict[str, Any] = {"levels": units}
        if scenario.slo is not None:
            written["slo"] = scenario.slo.to_json()
        if search is not None:
            written["capacity"] = search.result()
            (ok if written["capacity"]["capacity_rps"] is not None else note)(
                f"{scenario.name}: {written['capacity']['statement']}"
            )
        (place / "summary.json").write_text(json.dumps(written, indent=2) + "\n")


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
    """Seconds vllm-router (the router of a platform that always runs it, or chosen) may take
    to notice that a worker is back; the load goes on that long after the last event, so that
    it is seen."""
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
    before = counters(endpoints.engines)
    stop_file = place / level.name / ".stop"
    extra = ["--lab-stop-file", str(stop_file)]
    if seed is not None:
        extra += ["--lab-seed", str(seed)]
    log = place / level.name / "locust.log"
    began = time.time()
    swarm = locust.start(
        level, scenario, endpoints, place, words, generator.workers, extra, generator.remote
    )
    try:
        with gauges.sampling(endpoints, place / series.FILE, level.name):
            if events:
                resilience.inject(events, began, place, current)
                settle = level.settle + _router_check_interval(current)
                end = max(began + level.minimum, time.time() + settle)
                time.sleep(max(0.0, end - time.time()))
                stop_file.touch()  # Locust ends the run and writes its files
            code = swarm.wait(timeout=level.run_time + locust.STOP_TIMEOUT + 120)
    except (KeyboardInterrupt, subprocess.TimeoutExpired) as exc:
        swarm.stop(stop_file)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise StepFailed(f"Locust did not finish {level.name} in time (log: {log})") from None
    finally:
        stop_file.unlink(missing_ok=True)
    if code != 0:
        raise StepFailed(f"Locust exited {code} at {level.name}; see {log}")
    return metrics.delta(counters(current.require_endpoints().engines), before)


def counters(engines: Iterable[Engine]) -> dict[str, dict[str, float]]:
    """Engine counters under the lab's names; an engine that does not answer counts nothing."""
    out = {}
    with httpx.Client(timeout=5) as client:
        for engine in engines:
            try:
                snapshot = metrics.scrape(engine.metrics, client)
            except httpx.HTTPError:
                note(f"{engine.name}: /metrics did not answer; its counters are left out")
                continue
            out[engine.name] = {label: snapshot.get(n, 0.0) for n, label in COUNTER_NAMES.items()}
    return out


def level_load(level: levels.Level) -> dict[str, Any]:
    """What a level offered: its arrival rate (open loop) and users."""
    return {"offered_rps": level.rate, "users": level.users}


def summarize_level(
    place: Path,
    level: str,
    deltas: dict,
    kind: str,
    engine: Engine | None,
    slo: Slo | None = None,
    load: dict[str, Any] | None = None,
) -> dict:
    """The figures of a level (summary.json), from its samples in place/requests.csv."""
    samples = [s for s in summary.read_samples(place / "requests.csv") if s.level == level]
    figures = summary.summarize(samples, deltas)
    figures.update(load or {})
    if slo is not None:
        figures["slo_met"] = slo.met(figures["slo_attainment"], figures["error_rate"])
    cpu = summary.read_cpu(place / level / CPU_FILE)
    figures.update(summary.client_figures(samples, cpu, figures.get("slo_met")))
    measured = [s for s in samples if s.measured]
    span = (min(s.start for s in measured), max(s.end for s in measured)) if measured else None
    figures.update(series.figures(series.read(place / series.FILE), level, span))
    if kind in ("failover", "scale"):
        # Every request, drained ones included: none may be lost without a word.
        figures.update(resilience_figures.figures(place, samples, kind, engine))
    return figures


def say_level(scenario: str, level: str, figures: dict) -> None:
    """A level's figures in one line on the terminal."""

    def ms(key: str) -> str:
        value = figures.get(key)
        return "-" if value is None else f"{value:.0f} ms"

    line = (
        f"{scenario}/{level}: {figures['completed']} ok, {figures['failed']} failed, "
        f"{figures['requests_per_s']:.2f} req/s, {figures['output_tokens_per_s']:.0f} tok/s, "
        f"TTFT p50 {ms('p50_ttft_ms')}, TPOT p50 {ms('p50_tpot_ms')}, E2E p50 {ms('p50_e2e_ms')}"
    )
    if figures.get("prefix_cache_hit_rate") is not None:
        line += f", prefix-cache hits {figures['prefix_cache_hit_rate']:.0%}"
    if figures.get("session_stickiness") is not None:
        line += f", stickiness {figures['session_stickiness']:.0%}"
    if figures.get("client_limited"):
        line += f"; CLIENT-LIMITED: {figures['client_limited']}"
    (ok if figures["failed"] == 0 and not figures.get("client_limited") else bad)(line)
