"""Profile settings only some platforms serve, refused alike by the others."""

from __future__ import annotations

from lab.config.commandlines import POLICY_FLAGS
from lab.config.profile import Profile


def simulated_problems(profile: Profile, platform: str) -> list[str]:
    """Simulated engines (lab.sim) run on the local platform only, for tests and benchmarks."""
    if not profile.engine.simulated:
        return []
    return [
        f"{profile.source}: engine.simulated: simulated engines run on the local platform only "
        f"(tests and benchmarks), not on {platform}; remove the setting to run vLLM"
    ]


def test_delay_problems(profile: Profile, platform: str) -> list[str]:
    """The known slowdown (engine.test_delay) lives in the lab's engine middleware, which only
    the engines the lab starts itself run (local and Compose platforms)."""
    if not profile.engine.test_delay:
        return []
    return [
        f"{profile.source}: engine.test_delay: the delay lives in the lab's engine middleware, "
        f"which engines on {platform} do not run; expected the local or compose platform"
    ]


def policy_problems(profile: Profile, platform: str, router: str) -> list[str]:
    """router.policy settings that `router` (vllm-router or production-stack), as `platform`
    runs it, has no flag for: refused rather than silently dropped, so that a comparison of
    routing logics never runs with a knob that did not reach the router."""
    known = POLICY_FLAGS[router]
    return [
        f"{profile.source}: router.policy.{key}: {router}'s router, which the {platform} "
        f"platform runs, has no such setting; expected one of {', '.join(known)}"
        for key in profile.router.policy
        if key not in known
    ]


def chart_problems(profile: Profile, platform: str) -> list[str]:
    """The settings the production-stack chart cannot take on a Kubernetes `platform`, each
    refused by name rather than dropped from the Helm values: a setting that never reached the
    stack must not be measured as if it had. (Settings the schema documents as the local and
    Compose platforms' own, health_check_interval and the Compose images, change nothing
    there.)"""
    return [
        *simulated_problems(profile, platform),
        *test_delay_problems(profile, platform),
        *policy_problems(profile, platform, "production-stack"),
        *_router_problems(profile, platform),
    ]


def _router_problems(profile: Profile, platform: str) -> list[str]:
    """The chart runs production-stack's router: vllm-router's image in routerSpec would be
    started with arguments it does not take."""
    if profile.router.implementation != "vllm-router":
        return []
    return [
        f"{profile.source}: router.implementation: vllm-router runs on the local and compose "
        f"platforms; on {platform} the chart runs production-stack's router: expected "
        "production-stack"
    ]
