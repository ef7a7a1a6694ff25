"""Running a profile's scenarios against the stack that is up: one headless Locust process per
load level, the engines' counters read before and after each, results written as they come.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lab import platforms
from lab.config import model
from lab.config.profile import (
    FailoverScenario,
    Profile,
    RoutingScenario,
    Scenario,
    SteadyLoadScenario,
    ThroughputScenario,
)
from lab.console import bad, note, ok, say
from lab.errors import LabError, StepFailed
from lab.inproc import chat_tokens
from lab.load import resilience
from lab.paths import asset
from lab.platforms import Platform
from lab.results import folder as results
from lab.results import report, summary
from lab.stack import metrics
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.state import State

COUNTER_NAMES = {
    metrics.SERVED: "requests",
    metrics.PROMPT_TOKENS: "prompt_tokens",
    metrics.GENERATION_TOKENS: "generation_tokens",
    metrics.PREFIX_QUERIES: "prefix_cache_queries",
    metrics.PREFIX_HITS: "prefix_cache_hits",
}
STOP_TIMEOUT = 30  # seconds Locust lets in-flight requests finish at the end of a level
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


def levels(scenario: Scenario) -> list[Level]:
    if isinstance(scenario, RoutingScenario):
        return [_routing_level(scenario)]
    if isinstance(scenario, SteadyLoadScenario):
        return [_steady_level(scenario)]
    return _throughput_levels(scenario)


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
        options["--lab-rate"] = str(float(s.rate))
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
            {**lengths, "--lab-rate": str(rate)},
        )
        for rate in s.rates
    ]
    return closed + opened


def _open_loop_users(rate: float) -> int:
    """Enough users that Poisson arrivals are seldom late (lateness is recorded per request
    anyway)."""
    return min(100, max(4, math.ceil(rate * 3)))


def locust_command(
    level: Level, scenario: Scenario, endpoints: Endpoints, folder: Path, words: str
) -> list[str]:
    prefix = folder / level.name / "locust"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(asset("locustfiles", level.locustfile)),
        "--headless",
        "--users",
        str(level.users),
        "--spawn-rate",
        f"{level.spawn_rate:g}",
        "--run-time",
        f"{level.run_time}s",
        "--stop-timeout",
        str(STOP_TIMEOUT),
        "--host",
        endpoints.router,
        "--csv",
        str(prefix),
        "--csv-full-history",
        # Locust's _stats.csv is its last one-second snapshot; the JSON is written at the end.
        "--json-file",
        f"{prefix}_stats",
        "--html",
        f"{prefix}.html",
        "--only-summary",
        "--exit-code-on-error",
        "0",  # failed requests are results, not a failed run
        "--loglevel",
        "WARNING",
        "--lab-model",
        endpoints.model,
        "--lab-samples",
        str(folder / "requests.csv"),
        "--lab-scenario",
        scenario.name,
        "--lab-level",
        level.name,
        *user_options(endpoints, words),
    ]
    if isinstance(scenario, RoutingScenario):
        command += routing_options(endpoints)
    for option, value in level.options.items():
        command += [option, value]
    return command


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
    folder = results.create(base, profile)
    manifest = results.start_manifest(profile, current)
    results.save_manifest(folder, manifest)
    say(f"📁 results: {folder}")
    words = word_list(profile)
    try:
        for scenario in chosen:
            _run_scenario(scenario, profile, current, platform, folder, manifest, words)
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


def _run_scenario(
    scenario: Scenario,
    profile: Profile,
    current: State,
    platform: Platform,
    folder: Path,
    manifest: dict,
    words: str,
) -> None:
    seed = _seed(scenario)
    entry = {
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
    try:
        for index, level in enumerate(levels(scenario)):
            say(f"🦗 {scenario.name}/{level.name}: {level.users} users, up to {level.run_time} s")
            events = _events(scenario, profile, current, platform)
            engine = _target(scenario, current)
            # Each level its own prompts: a level must not hit what the one before cached.
            level_seed = None if seed is None else seed + index
            deltas = _run_level(level, scenario, current, place, words, events, level_seed)
            results.write_engines(place / "engines.csv", level.name, deltas)
            entry["levels"].append(level.name)
            units[level.name] = _summarize(place, level.name, deltas, scenario.kind, engine)
            _say_level(scenario.name, level.name, units[level.name])
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
        (place / "summary.json").write_text(json.dumps({"levels": units}, indent=2) + "\n")


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


def user_options(endpoints: Endpoints, words: str) -> list[str]:
    """Options of the lab's Locust user wherever it runs: the prompt words of the model's
    vocabulary (when it has such a list) and the variable holding the API key (never the key)."""
    options = ["--lab-words", words] if words else []
    if endpoints.api_key_env:
        options += ["--lab-api-key-env", endpoints.api_key_env]
    return options


def routing_options(endpoints: Endpoints) -> list[str]:
    """Options of the routing user: the session header, and the tokenizer to send token IDs
    with where the router routes on them."""
    options = ["--lab-session-key", endpoints.session_key]
    if endpoints.tokenizer:
        options += ["--lab-tokenizer", endpoints.tokenizer]
    return options


def _router_check_interval(current: State) -> int:
    """Seconds vllm-router (local platform, or Compose when chosen) may take to notice that a
    worker is back; the load goes on that long after the last event, so that it is seen."""
    router = current.profile["router"]
    if current.platform == "local" or router["implementation"] == "vllm-router":
        return router["health_check_interval"]
    return 0


def _run_level(
    level: Level,
    scenario: Scenario,
    current: State,
    place: Path,
    words: str,
    events: list[resilience.Event],
    seed: int | None,
) -> dict[str, dict[str, float]]:
    endpoints = current.require_endpoints()
    (place / level.name).mkdir()
    before = _counters(endpoints)
    stop_file = place / level.name / ".stop"
    command = [*locust_command(level, scenario, endpoints, place, words),
               "--lab-stop-file", str(stop_file)]  # fmt: skip
    if seed is not None:
        command += ["--lab-seed", str(seed)]
    log = place / level.name / "locust.log"
    with log.open("w") as out:
        began = time.time()
        locust = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            if events:
                resilience.inject(events, began, place, current)
                settle = level.settle + _router_check_interval(current)
                end = max(began + level.minimum, time.time() + settle)
                time.sleep(max(0.0, end - time.time()))
                stop_file.touch()  # Locust ends the run and writes its files
            code = locust.wait(timeout=level.run_time + STOP_TIMEOUT + 120)
        except (KeyboardInterrupt, subprocess.TimeoutExpired) as exc:
            _stop(locust, stop_file)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise StepFailed(f"Locust did not finish {level.name} in time (log: {log})") from None
        finally:
            stop_file.unlink(missing_ok=True)
    if code != 0:
        raise StepFailed(f"Locust exited {code} at {level.name}; see {log}")
    return metrics.delta(_counters(current.require_endpoints()), before)


def _seed(scenario: Scenario) -> int | None:
    """The scenario's seed, or a fresh one: a run must not find its prompts already cached."""
    if isinstance(scenario, SteadyLoadScenario):
        return None
    return scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**30)


def _stop(locust: subprocess.Popen, stop_file: Path) -> None:
    """Ask Locust to end its run (it then writes every file); terminate it if it will not."""
    stop_file.touch()
    for ask in (lambda: None, locust.terminate, locust.kill):
        ask()
        try:
            locust.wait(timeout=STOP_TIMEOUT + 10)
            return
        except subprocess.TimeoutExpired:
            continue


def _counters(endpoints: Endpoints) -> dict[str, dict[str, float]]:
    """Engine counters under the lab's names; an engine that does not answer counts nothing."""
    out = {}
    with httpx.Client(timeout=5) as client:
        for engine in endpoints.engines:
            try:
                snapshot = metrics.scrape(engine.metrics, client)
            except httpx.HTTPError:
                note(f"{engine.name}: /metrics did not answer; its counters are left out")
                continue
            out[engine.name] = {label: snapshot.get(n, 0.0) for n, label in COUNTER_NAMES.items()}
    return out


def _summarize(place: Path, level: str, deltas: dict, kind: str, engine: Engine | None) -> dict:
    samples = [s for s in summary.read_samples(place / "requests.csv") if s.level == level]
    figures = summary.summarize(samples, deltas)
    if kind in ("failover", "scale"):
        # Every request, drained ones included: none may be lost without a word.
        figures.update(resilience.figures(place, samples, kind, engine))
    return figures


def _say_level(scenario: str, level: str, figures: dict) -> None:
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
    (ok if figures["failed"] == 0 else bad)(line)


def word_list(profile: Profile) -> str:
    """The tiny model's one-token words, so prompt lengths in the profile are token counts."""
    if profile.model.is_tiny:
        words = model.tiny_dir() / model.WORDS_FILE
        if words.exists():
            return str(words)
    return ""
