"""Profile checks every platform shares (before anything is started): settings the environment
must back, and settings only some platforms serve. Each platform adds its own.
"""

from __future__ import annotations

import importlib.util
import os

from lab.config import model
from lab.config.profile import Profile


def profile_problems(profile: Profile) -> list[str]:
    """Settings the environment must back: an API key variable that is set, a tiny model that
    is made or can be made here."""
    problems = []
    variable = profile.engine.api_key_env
    if variable and not os.environ.get(variable):
        problems.append(f"{profile.source}: engine.api_key_env: ${variable} is not set")
    if (
        not profile.engine.simulated
        and profile.model.is_tiny
        and not model.is_made(model.tiny_dir())
        and importlib.util.find_spec("transformers") is None
    ):
        problems.append(
            f"{profile.source}: model.source: lab:tiny-llama is not made yet and this Python "
            "cannot make it: run `python -m lab model tiny` with the lab's engine extra "
            "installed (nox -s cpu-lab does), or serve a Hugging Face model"
        )
    return problems


def simulated_problems(profile: Profile, platform: str) -> list[str]:
    """Simulated engines (lab.sim) run on the local platform only, for tests and benchmarks."""
    if not profile.engine.simulated:
        return []
    return [
        f"{profile.source}: engine.simulated: simulated engines run on the local platform only "
        f"(tests and benchmarks), not on {platform}; remove the setting to run vLLM"
    ]
