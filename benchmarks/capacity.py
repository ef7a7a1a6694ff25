"""How long a capacity search takes, and how far its capacity lands from a brute-force sweep of
fixed rates on the same stack.

    nox -s benchmark -- capacity                 # a simulated engine behind the real vllm-router
    nox -s benchmark -- capacity --real          # profiles/cpu-capacity.yaml on the local CPU stack
    nox -s benchmark -- capacity --real --rates 4:24:1 --repeat 2

1. The search: the profile's capacity scenario (doubling, then bisection to its precision),
   timed on the wall clock, Locust start-ups and idle waits included.
2. The sweep: every rate of a fixed grid (--rates FIRST:LAST:STEP) as Poisson levels of the same
   duration, lengths and SLO (a throughput scenario); its capacity is the highest rate below
   the first one that fails the SLO.
3. Both capacities, and the search's distance from the sweep's in percent of it.

By default the stack is one simulated engine (the local platform's `engine.simulated`: 12
batch slots, 100 ms to the first token and 50 ms between tokens, 9-token answers: 24
requests/s at most) behind the real vllm-router, so the answer is known; it is brought up in
a state directory of its own and stopped after. With --real it is the CPU stack that is up, or
one brought up for the benchmark (and stopped after it). --repeat N runs search and sweep N
times each, interleaved, so that a shared machine's drift falls on both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.table import Table

from lab.config import profile
from lab.config.kinds import CapacityScenario
from lab.console import out
from lab.load import lifecycle, scenarios
from lab.platforms import Platform
from lab.stack import state
from lab.stack.state import State

SIMULATED = [
    "engine.simulated={ttft_ms: 100, tpot_ms: 50, max_batch: 12}", "engine.replicas=1",
    "observability.prometheus=false", "slo={ttft_ms: 600, tpot_ms: 60}",
    "scenarios[0].start_rate=3", "scenarios[0].duration=10", "scenarios[0].prompt_tokens=16",
    "scenarios[0].output_tokens=9",
]  # fmt: skip
DEFAULT_RATES = {"sim": "12:32:1", "real": "4:24:1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", action="store_true", help="the local CPU stack, not the sim")
    parser.add_argument(
        "--profile", default="cpu-capacity", help="with --real (default %(default)s)"
    )
    parser.add_argument("--rates", help="sweep grid FIRST:LAST:STEP, requests/s")
    parser.add_argument("--repeat", type=int, default=1, help="searches and sweeps, interleaved")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="capacity-bench-"))
    lab = profile.load(args.profile, [] if args.real else SIMULATED)
    (search,) = [s for s in lab.scenarios if isinstance(s, CapacityScenario)]
    grid = rates(args.rates or DEFAULT_RATES["real" if args.real else "sim"])
    sweep = sweep_profile(lab, search, grid, work)
    found = []
    if not args.real:  # a lab of its own, beside any that is up
        os.environ["LAB_STATE_DIR"] = str(work / "state")
    with stack(lab) as (platform, current):
        for n in range(args.repeat):
            found.append(run_search(lab, current, platform, work / f"search-{n}"))
            found.append(run_sweep(sweep, current, platform, work / f"sweep-{n}"))
    show(found, search, grid)


def rates(text: str) -> list[float]:
    first, last, step = (float(part) for part in text.split(":"))
    count = round((last - first) / step)
    return [round(first + i * step, 6) for i in range(count + 1)]


def sweep_profile(
    lab: profile.Profile, search: CapacityScenario, grid: list[float], work: Path
) -> profile.Profile:
    """The capacity scenario's stack, SLO, lengths and duration, as fixed-rate levels."""
    document = {k: v for k, v in lab.resolved.items() if k != "scenarios"}
    document["name"] = f"{lab.name}-sweep"
    document["scenarios"] = [{
        "name": "sweep", "kind": "throughput", "concurrency": [], "rates": grid,
        "duration": search.duration, "prompt_tokens": search.prompt_tokens,
        "output_tokens": search.output_tokens,
    }]  # fmt: skip
    path = work / "sweep.yaml"
    path.write_text(json.dumps(document))  # JSON is YAML
    return profile.load(path)


@contextlib.contextmanager
def stack(lab: profile.Profile) -> Iterator[tuple[Platform | None, State]]:
    """The lab that is up, or one brought up for the benchmark and stopped after it."""
    existing = state.load()
    if existing is not None:
        yield None, existing
        return
    platform, current = lifecycle.up(lab, "local")
    try:
        yield platform, current
    finally:
        lifecycle.down()


def run_search(lab: profile.Profile, current: State, platform: Platform | None, base: Path) -> dict:
    began = time.monotonic()
    folder = scenarios.run(lab, current, ["capacity"], base, platform)
    result = json.loads((folder / "capacity" / "summary.json").read_text())["capacity"]
    return {"what": "search", "seconds": time.monotonic() - began, "folder": folder,
            "capacity": result["capacity_rps"], "levels": len(result["steps"]),
            "note": result["statement"]}  # fmt: skip


def run_sweep(lab: profile.Profile, current: State, platform: Platform | None, base: Path) -> dict:
    began = time.monotonic()
    folder = scenarios.run(lab, current, ["sweep"], base, platform)
    levels = json.loads((folder / "sweep" / "summary.json").read_text())["levels"]
    met = [(f["offered_rps"], f["slo_met"]) for f in levels.values()]
    first_fail = next((rate for rate, ok in met if not ok), None)
    passed = [rate for rate, ok in met if ok and (first_fail is None or rate < first_fail)]
    note = f"first failure at {first_fail:g} req/s" if first_fail else "no rate failed"
    return {"what": "sweep", "seconds": time.monotonic() - began, "folder": folder,
            "capacity": max(passed, default=None), "levels": len(met), "note": note}  # fmt: skip


def show(found: list[dict], search: CapacityScenario, grid: list[float]) -> None:
    title = (
        f"capacity search (precision {search.precision:.0%}) and sweep of {grid[0]:g} to "
        f"{grid[-1]:g} req/s, {search.duration} s levels"
    )
    table = Table(title=title)
    for column in ("run", "wall clock, s", "levels", "capacity, req/s", "search vs sweep"):
        table.add_column(column, justify="right")
    sweeps = [f["capacity"] for f in found if f["what"] == "sweep" and f["capacity"]]
    reference = sum(sweeps) / len(sweeps) if sweeps else None
    for f in found:
        distance = "-"
        if f["what"] == "search" and f["capacity"] and reference:
            distance = f"{100 * (f['capacity'] - reference) / reference:+.1f}%"
        capacity = "-" if f["capacity"] is None else f"{f['capacity']:g}"
        table.add_row(f["what"], f"{f['seconds']:.0f}", str(f["levels"]), capacity, distance)
    out.print(table)
    for f in found:
        out.print(f"{f['what']}: {f['note']} ({f['folder']})")


if __name__ == "__main__":
    main()
