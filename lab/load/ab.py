"""Interleaved A/B: two configurations measured turn about (A B, B A, …) on one platform, so
that the drift of a shared machine hits both alike, then compared with runs as the units.

Each run is a whole lab: up (with that profile and its overrides), the scenarios, down. A
bring-up costs about a minute on the local platform (engines load), so --repeat 5 of the cpu
profile takes roughly 10 × (1 min + its scenarios). Keeping the engines up and restarting only
the router would be cheaper when A and B differ in router settings alone, but the platform
interface has no such step; a fresh stack per run also keeps the runs independent.

    results/ab-<UTC time>/
        ab.json            the plan: profiles, overrides, platform, order of the runs
        A/<run>/, B/<run>/ results folders (lab.results.folder)
        compare/           lab compare A B
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import platforms
from lab.config.profile import Profile
from lab.console import say
from lab.errors import ConfigError
from lab.load import lifecycle, scenarios
from lab.results import folder as results

SIDES = ("A", "B")


@dataclass(frozen=True)
class Arm:
    """One configuration: a profile with its overrides."""

    label: str
    profile: Profile
    sets: tuple[str, ...]


def order(repeat: int) -> list[str]:
    """A B, B A, A B, …: each repetition swaps which arm goes first. Were A always first, B
    would run half a turn later in every pair, and a steady drift of the machine would fall
    on B a little more in every one; swapping cancels it over each two pairs."""
    return [label for repetition in range(repeat) for label in turn(repetition)]


def turn(repetition: int) -> tuple[str, ...]:
    """The arms of repetition `repetition` (from 0) in the order they go: A B, then B A."""
    return SIDES if repetition % 2 == 0 else SIDES[::-1]


def platform_for(arms: list[Arm], requested: str | None) -> str:
    """The one platform both arms run on; refused when their profiles choose different ones."""
    chosen = {arm.label: platforms.choose(requested, arm.profile)[0] for arm in arms}
    if len(set(chosen.values())) > 1:
        raise ConfigError(
            f"A would run on {chosen['A']} and B on {chosen['B']}: an A/B compares "
            "configurations on one platform; pass --platform"
        )
    return chosen["A"]


def create(base: Path) -> Path:
    return results.new_folder(base, f"ab-{results.stamp()}")


def check(arms: list[Arm], repeat: int, scenario_names: list[str]) -> None:
    """Refuse what cannot run before anything starts."""
    if repeat < 1:
        raise ConfigError(f"--repeat {repeat}: must be at least 1")
    for arm in arms:
        for name in scenario_names:
            arm.profile.scenario(name)  # raises ConfigError naming the profile's scenarios
        if not arm.profile.scenarios:
            raise ConfigError(f"{arm.profile.source} ({arm.label}): the profile has no scenarios")


def checked_platform(
    arms: list[Arm], repeat: int, requested_platform: str | None, scenario_names: list[str]
) -> str:
    """The one platform both arms run on, once everything either bring-up would refuse has
    been refused: before any folder is made or anything started."""
    check(arms, repeat, scenario_names)
    platform = platform_for(arms, requested_platform)
    for arm in arms:
        lifecycle.check(arm.profile, platforms.get(platform))
    return platform


def run(
    arms: list[Arm],
    repeat: int,
    requested_platform: str | None,
    scenario_names: list[str],
    base: Path,
) -> Path:
    """Run the arms interleaved into a new ab folder; return it (compare it afterwards)."""
    platform = checked_platform(arms, repeat, requested_platform, scenario_names)
    by_label = {arm.label: arm for arm in arms}
    folder = create(base)
    plan: dict[str, Any] = {
        "platform": platform,
        "repeat": repeat,
        "arms": {
            arm.label: {"profile": arm.profile.source, "sets": list(arm.sets)} for arm in arms
        },
        "scenarios": scenario_names,
        "runs": [],
    }
    save(folder, plan)
    say(
        f"🔀 A/B: {2 * repeat} runs, {' '.join(order(repeat))}, on {platform}; each brings the "
        "stack up and down (about a minute per bring-up on the local platform)"
    )
    for turn, label in enumerate(order(repeat), 1):
        arm = by_label[label]
        say(f"🔀 run {turn}/{2 * repeat}: {label} ({arm.profile.name} {' '.join(arm.sets)})")
        result = one_run(arm, platform, scenario_names, folder / label)
        plan["runs"].append({"arm": label, "folder": str(result.relative_to(folder))})
        save(folder, plan)
    return folder


def one_run(arm: Arm, platform: str, names: list[str], into: Path) -> Path:
    """One run on a fresh stack: up, the scenarios into a new results folder in `into`, down."""
    running, current = lifecycle.up(arm.profile, platform)
    try:
        return scenarios.run(arm.profile, current, names, into, running)
    finally:
        lifecycle.down()


def save(folder: Path, plan: dict) -> None:
    (folder / "ab.json").write_text(json.dumps(plan, indent=2) + "\n")
