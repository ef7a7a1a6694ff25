"""Replay levels' traces (lab.traces): each read and checked once the stack is up and before any
results are written, its figures said (and in a dry run); then written once per scenario as the
schedule its levels' Locust processes stream (locustfiles/replay.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lab.config import model
from lab.config.kinds import ReplayScenario, Scenario
from lab.config.kinds.plan import Level
from lab.config.profile import Profile
from lab.console import say
from lab.results import replay_figures
from lab.traces.prepare import Options, Tokens, Trace
from lab.traces.stats import Tally
from lab.traces.tokens import ModelTokens

SCHEDULE = "schedule.jsonl"  # in the scenario's folder


def replays(scenarios: list[Scenario]) -> list[ReplayScenario]:
    return [s for s in scenarios if isinstance(s, ReplayScenario)]


def trace(scenario: ReplayScenario, profile: Profile, tokens: Tokens | None) -> Trace:
    s = scenario
    options = Options(
        format=s.format,
        block_tokens=s.block_tokens,
        seed=s.seed or 0,
        sample=s.sampled,
        sample_seed=s.seed,
        max_requests=s.max_requests,
        output_tokens=s.fixed_output,
        max_model_len=profile.engine.max_model_len,
        truncate=s.truncate,
        timed=s.mode == "timed",
    )
    return Trace(Path(s.source), options, tokens)


def tokens_of(profile: Profile, source: str = "") -> ModelTokens | None:
    """The served model's tokenizer: the one the stack's router uses, or the model's folder
    (None when it is not on this machine: a dry run of a model not yet fetched)."""
    where = source or model.locate(profile)
    if not source and not Path(where).is_dir():
        return None
    return ModelTokens(where)


def check(profile: Profile, scenarios: list[Scenario], source: str = "") -> None:
    """Read every replay scenario's trace through (the first bad line refused) and say what it
    holds."""
    chosen = replays(scenarios)
    tokens = tokens_of(profile, source) if chosen else None
    for scenario in chosen:
        found = trace(scenario, profile, tokens)
        fmt = found.format()
        said = "; ".join(found.tally().lines(fmt if scenario.format != "auto" else f"{fmt} (auto)"))
        say(f"📼 {scenario.name}: {scenario.source}: {said}")


def schedule(
    scenario: ReplayScenario, profile: Profile, place: Path, source: str = ""
) -> tuple[Tally, dict[str, str]]:
    """Write the scenario's schedule; the figures of what it holds, and the Locust options its
    levels need to send it."""
    tokens = tokens_of(profile, source)
    path = place / SCHEDULE
    tally = trace(scenario, profile, tokens).write(path)
    return tally, {
        "--lab-schedule": str(path),
        "--lab-block-seed": str(scenario.seed or 0),
        "--lab-block-tokens": str(scenario.block_tokens),
        "--lab-vocab": str(tokens.vocab if tokens else 32000),
    }


def against(scenario: ReplayScenario, level: str, tally: Tally, figures: dict) -> dict:
    """The trace's rate against what the level sent, its theoretical prefix reuse against the
    hit rate the engines' counters measured: said, and returned for summary.json."""
    duration = tally.duration_s
    rate = (
        tally.requests / duration * scenario.speedup
        if duration and scenario.mode == "timed"
        else None
    )
    found = replay_figures.figures(
        rate, figures["requests_per_s"], tally.reuse, figures.get("prefix_cache_hit_rate")
    )
    parts = []
    if rate is not None:
        parts.append(f"the trace's rate {rate:.2f} req/s, sent {figures['requests_per_s']:.2f}")
    measured = found["measured_hit_rate"]
    shown = "-" if measured is None else f"{measured:.0%}"
    parts.append(f"theoretical prefix reuse {tally.reuse:.0%}, measured hit rate {shown}")
    say(f"📼 {scenario.name}/{level}: {'; '.join(parts)}")
    return found


def with_schedule(level: Level, options: dict) -> Level:
    return replace(level, options={**level.options, **options})
