"""What attaching costs: one stack measured through the local platform's own state and through
attach, turn about, then compared pair by pair.

The real local stack (vLLM CPU engines behind vllm-router) is brought up from one folder
(`local/`, with its own state) and attached to from a second (`attach/`, whose state names the
same router and engines at their URLs). Each turn runs the throughput level at concurrency 1
once from each folder, the first of the two alternating (local, attach; attach, local; ...),
each run into its own folder of runs. `compare --paired` then judges run i of one against run
i of the other: TTFT p50, TPOT p50, E2E p90 and output tokens/s, with their 90% intervals
(compare's default alpha, 0.05), as they come out. Both stacks are taken down at the end,
also after a failure or Ctrl-C (attach's `down` only forgets; the local one stops its
processes).

    nox -s benchmark -- attach-vs-local [--turns 24] [--duration 30] [--work DIR]
    nox -s benchmark -- attach-vs-local --simulated --turns 2 --duration 2   # the script itself

`--simulated` runs it on simulated engines (lab.sim) instead: a check of the script, never a
measurement of vLLM. The machine should be otherwise idle for the real one (about
turns x 2 x (duration + 15 s), plus the stack's start: some 40 minutes with the defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SIMULATED = "engine.simulated={ttft_ms: 20, tpot_ms: 5}"
METRICS = "ttft_p50,tpot_p50,e2e_p90,output_tokens_per_s"


def level(duration: int) -> list[str]:
    """The one level both sides run: the throughput scenario at concurrency 1, closed loop
    (scenarios[1] in both profiles; every setting of it given, so the two are the same). No
    seed: each run sends prompts of its own, so no run finds the last one's in the prefix cache."""
    fixed = {"concurrency": "[1]", "rates": "[]", "duration": str(duration),
             "prompt_tokens": "128", "output_tokens": "32"}  # fmt: skip
    sets = [f"scenarios[1].{key}={value}" for key, value in fixed.items()]
    return ["--scenario", "throughput", *(arg for s in sets for arg in ("--set", s))]


def lab(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m lab ARGS` from `folder`, with the state of that folder; its output shown."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LAB_STATE_DIR": str(folder / ".lab")}
    print(f"$ (cd {folder} && python -m lab {' '.join(args)})", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "lab", *args], cwd=folder, env=env, text=True, check=False
    )
    if check and done.returncode != 0:
        raise SystemExit(f"python -m lab {args[0]} exited {done.returncode}")
    return done


def attached_to(local: Path) -> list[str]:
    """--target and target.engines: the local stack's router and engines, from its state."""
    endpoints = json.loads((local / ".lab" / "state.json").read_text())["endpoints"]
    engines = ",".join(engine["url"] for engine in endpoints["engines"])
    return ["--target", endpoints["router"], "--set", f"target.engines=[{engines}]"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=24, help="pairs of runs (default: 24)")
    parser.add_argument("--duration", type=int, default=30, help="seconds per run (default 30)")
    parser.add_argument("--work", help="folder for both labs and their runs (default: a new one)")
    parser.add_argument(
        "--simulated", action="store_true", help="simulated engines: checks the script only"
    )
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="attach-vs-local-")).resolve()
    local, attach = work / "local", work / "attach"
    sim = ["--set", SIMULATED] if args.simulated else []
    lab(local, "up", "--profile", "cpu", "--platform", "local", "--no-smoke", *sim)
    try:
        lab(attach, "up", "--profile", "attach", *attached_to(local))
        sides = {local: ("--profile", "cpu", *sim), attach: ("--profile", "attach")}
        for turn in range(args.turns):
            order = (local, attach) if turn % 2 == 0 else (attach, local)
            print(f"--- turn {turn + 1} of {args.turns}: {order[0].name} first", flush=True)
            for side in order:
                lab(side, "run", *sides[side], *level(args.duration), "--out", str(side / "runs"))
        lab(work, "compare", str(local / "runs"), str(attach / "runs"), "--paired",
            "--metrics", METRICS, "--out", str(work / "compare"))  # fmt: skip
    finally:
        lab(attach, "down", check=False)
        lab(local, "down", check=False)
    print(f"runs and the comparison: {work}")


if __name__ == "__main__":
    main()
