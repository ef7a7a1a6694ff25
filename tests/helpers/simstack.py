"""A local stack of simulated engines (lab.sim) behind the real vllm-router: up in about a
second, for the tests of the logic that runs against a stack (smoke, routing check, scenarios,
resilience). Never where the lab claims to measure vLLM: the real-engine tests stay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.config import commandlines, profile
from lab.platforms.local.platform import LocalPlatform
from lab.stack import processes, state
from lab.stack.state import State
from tests.helpers.lab import gone, group_pids

# Fast engines by default: a token every 5 ms.
FAST = "engine.simulated={ttft_ms: 5, tpot_ms: 5}"


def needs_router() -> None:
    if commandlines.router_binary() is None:
        pytest.fail("vllm-router is not installed (the lab's engine extra; nox -s tests has it)")


@contextlib.contextmanager
def sim_stack(
    state_dir: Path, *sets: str, name: str = "cpu", simulated: str = FAST
) -> Iterator[tuple[LocalPlatform, State]]:
    """The profile `name` with simulated engines, up on the local platform (no Prometheus), in
    its own state directory; everything it started is gone afterwards."""
    needs_router()
    lab = profile.load(name, [simulated, "observability.prometheus=false", *sets])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAB_STATE_DIR", str(state_dir))
        platform = LocalPlatform()
        platform.check(lab)
        current = platform.up(lab)
        started = group_pids(current)
        try:
            yield platform, current
        finally:
            latest = state.load() or current
            started += group_pids(latest)
            platform.down(latest)
            assert processes.wait_until(lambda: not gone(started), timeout=15), gone(started)
