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

By default the stack is one simulated engine (lab.sim: 12 batch slots, 100 ms to the first
token and 50 ms between tokens, 9-token answers: 24 requests/s at most) behind the real
vllm-router, so the answer is known. With --real it is the CPU stack that is up, or one brought
up for the benchmark (and stopped after it). --repeat N runs search and sweep N times each,
interleaved, so that a shared machine's drift falls on both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the simulated stack is the test suite's own (tests/helpers)

from lab.config import profile  # noqa: E402
from lab.config.profile import CapacityScenario  # noqa: E402
from lab.load import lifecycle, scenarios  # noqa: E402
from lab.sim import SimOptions  # noqa: E402
from lab.stack import state  # noqa: E402
from lab.stack.state import State  # noqa: E402
from tests.helpers.stacks import sim_stack  # noqa: E402

SIM = SimOptions(name="sim-0", ttft_ms=100, tpot_ms=50, max_batch=12)
SIM_PROFILE = """
name: sim-capacity
slo: {ttft_ms: 600, tpot_ms: 60}
scenarios:
  - {name: capacity, kind: capacity, start_rate: 3, precision: 0.1, duration: 10, budget: 300,
     prompt_tokens: 16, output_tokens: 9}
"""
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
    lab = profile.load(args.profile) if args.real else sim_profile(work)
    (search,) = [s for s in lab.scenarios if s.kind == "capacity"]
    grid = rates(args.rates or DEFAULT_RATES["real" if args.real else "sim"])
    sweep = sweep_profile(lab, search, grid, work)
    found = []
    with stack(args.real, lab, work) as current:
        for n in range(args.repeat):
            found.append(run_search(lab, current, work / f"search-{n}"))
            found.append(run_sweep(sweep, current, work / f"sweep-{n}"))
    show(found, search, grid)


def sim_profile(work: Path) -> profile.Profile:
    path = work / "sim-capacity.yaml"
    path.write_text(SIM_PROFILE)
    return profile.load(path)


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
def stack(real: bool, lab: profile.Profile, work: Path) -> Iterator[State]:
    if not real:
        with sim_stack([SIM], work) as current:
            yield current
        return
    existing = state.load()
    current = existing or lifecycle.up(lab, "local")
    try:
        yield current
    finally:
        if existing is None:  # a stack this benchmark brought up is stopped by it
            lifecycle.down()


def run_search(lab: profile.Profile, current: State, out: Path) -> dict:
    began = time.monotonic()
    folder = scenarios.run(lab, current, ["capacity"], out)
    result = json.loads((folder / "capacity" / "summary.json").read_text())["capacity"]
    return {"what": "search", "seconds": time.monotonic() - began, "folder": folder,
            "capacity": result["capacity_rps"], "levels": len(result["steps"]),
            "note": result["statement"]}  # fmt: skip


def run_sweep(lab: profile.Profile, current: State, out: Path) -> dict:
    began = time.monotonic()
    folder = scenarios.run(lab, current, ["sweep"], out)
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
    console = Console()
    console.print(table)
    for f in found:
        console.print(f"{f['what']}: {f['note']} ({f['folder']})")


if __name__ == "__main__":
    main()
