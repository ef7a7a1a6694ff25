"""What load a scenario puts on the stack: its levels (one Locust run each), planned from the
profile alone, before anything runs."""

from __future__ import annotations

import os
import random

from lab import platforms
from lab.config import kinds, model
from lab.config.kinds import Scenario
from lab.config.kinds.plan import Level
from lab.config.kinds.steady import SteadyLoadScenario
from lab.config.profile import Profile
from lab.platforms.protocol import ENGINES_HERE


def levels(scenario: Scenario) -> list[Level]:
    """The levels planned from the profile alone, by the scenario's kind; a capacity search
    plans its own as it goes (lab.load.capacity), one step at a time."""
    return kinds.get(scenario.kind).levels(scenario)


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
