"""Profile settings only some platforms serve, refused alike by the others."""

from __future__ import annotations

from lab.config.profile import Profile


def simulated_problems(profile: Profile, platform: str) -> list[str]:
    """Simulated engines (lab.sim) run on the local platform only, for tests and benchmarks."""
    if not profile.engine.simulated:
        return []
    return [
        f"{profile.source}: engine.simulated: simulated engines run on the local platform only "
        f"(tests and benchmarks), not on {platform}; remove the setting to run vLLM"
    ]
