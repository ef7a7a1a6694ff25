"""What a profile needs from the machine it is brought up from, whatever the platform."""

from __future__ import annotations

import importlib.util
import os

from lab.config import model
from lab.config.profile import Profile


def problems(profile: Profile) -> list[str]:
    """Settings the environment must back: an API key variable that is set, a tiny model that
    is made or can be made here."""
    problems = []
    variable = profile.engine.api_key_env
    if variable and not os.environ.get(variable):
        problems.append(f"{profile.source}: engine.api_key_env: ${variable} is not set")
    if (
        not profile.engine.simulated  # lab.sim serves the name, it loads no weights
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
