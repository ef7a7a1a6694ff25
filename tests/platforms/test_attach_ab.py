"""Two deployments the lab did not start, compared: `ab attach attach`, interleaved and paired,
on two stacks the test started (simulated engines behind real vllm-routers). One with +30%
TTFT is called worse; two equal ones pass the gate. Slow (about 40 s each): full CI, not the
fast tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.foreign import Foreign, foreign_stack
from tests.helpers.lab import lab_cli

pytestmark = pytest.mark.slow  # sim engines: full CI runs it in its parallel workers

SHORT = ("scenarios[1].duration=3", "scenarios[1].concurrency=[2]", "scenarios[1].rates=[]")


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, Foreign]]:
    with (
        foreign_stack(engines=1, ttft_ms=40) as base,
        foreign_stack(engines=1, ttft_ms=40) as twin,  # another stack, equal to the first
        foreign_stack(engines=1, ttft_ms=52) as slower,  # +30% TTFT
    ):
        yield {"base": base, "same": twin, "slower": slower}


@pytest.mark.parametrize(("b", "status", "verdict"), [("slower", 1, "WORSE"), ("same", 0, "")])
def test_ab_attach_attach_calls_the_slower_deployment_worse(
    stacks: dict[str, Foreign], b: str, status: int, verdict: str, tmp_path
) -> None:
    sets = [f"target.router={stacks['base'].router}", *SHORT]
    other = [f"target.router={stacks[b].router}", *SHORT]
    done = lab_cli(
        "ab", "attach", "attach", "--repeat", "3", "--paired", "--scenario", "throughput",
        *(arg for s in sets for arg in ("--set-a", s)),
        *(arg for s in other for arg in ("--set-b", s)),
        "--gate", "ttft_p50", "--threshold", "ttft_p50=10", "--fail-on-regression",
        state_dir=tmp_path / ".lab", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == status, done.stdout[-3000:] + done.stderr
    (row,) = [line for line in done.stdout.splitlines() if line.strip().startswith("ttft_p50")]
    assert (verdict in row) if verdict else ("WORSE" not in row and "BETTER" not in row), row
