"""Replay's figures, on simulated engines behind the real vllm-router (docs/measurements/
replay.md):

    nox -s benchmark -- replay timing [--rate 50] [--seconds 20]
    nox -s benchmark -- replay scale [--lines 1000000]

timing: a timed replay of a trace of Poisson arrivals at --rate requests/s for --seconds, with
one Locust process and with load.processes: 2; for each, the 50th, 99th percentile and maximum
of |sent - scheduled| (requests.csv's lag_ms: when a request went out against when the trace
had it due). The issue's bound: p99 at most 20 ms, on a machine the benchmark has alone.

scale: a Mooncake trace of --lines lines and one of 1,000, each made ready as a run does (read
through and checked, then written as the schedule) in a process of its own, whose peak memory
(max RSS) and time are reported; then the seconds from the replay's start (scenarios.run) to
its first request, for each, on one simulated engine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.config import profile
from lab.load import lifecycle, scenarios
from lab.stack import state

ENGINE = ["engine.simulated={ttft_ms: 5, tpot_ms: 5}", "observability.prometheus=false",
          "engine.replicas=1"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parts = parser.add_subparsers(dest="what", required=True)
    timing = parts.add_parser("timing")
    timing.add_argument("--rate", type=float, default=50.0)
    timing.add_argument("--seconds", type=float, default=20.0)
    scale = parts.add_parser("scale")
    scale.add_argument("--lines", type=int, default=1_000_000)
    prepare = parts.add_parser("prepare", help="(the scale's child process)")
    prepare.add_argument("trace")
    args = parser.parse_args()
    if args.what == "prepare":
        return prepare_one(Path(args.trace))
    work = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    os.environ["LAB_STATE_DIR"] = str(work / "state")  # a lab of its own, beside any that is up
    if args.what == "timing":
        return run_timing(work, args.rate, args.seconds)
    return run_scale(work, args.lines)


def mooncake(path: Path, lines: int, rate: float, seed: int = 1) -> Path:
    """Poisson arrivals at `rate`; prompts of 4 blocks of 16 tokens, two shared by all."""
    rng = random.Random(seed)
    at = 0.0
    with path.open("w") as file:
        for n in range(lines):
            file.write(json.dumps({"timestamp": round(at, 3), "input_length": 60,
                                   "output_length": 4, "hash_ids": [0, 1, 2 + 2 * n, 3 + 2 * n]})
                       + "\n")  # fmt: skip
            at += rng.expovariate(rate) * 1000
    return path


def replay(work: Path, name: str, trace: Path, sets: list[str]) -> Path:
    scenario = {"name": "replay", "kind": "replay", "source": str(trace), "block_tokens": 16,
                "users": 64}  # fmt: skip
    lab = profile.load("cpu", [*ENGINE, f"scenarios=[{json.dumps(scenario)}]", *sets])
    current = state.require()
    return scenarios.run(lab, current, ["replay"], work / name)


def up() -> None:
    lifecycle.up(profile.load("cpu", ENGINE), "local")


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "replay" / "requests.csv").open() as file:
        return list(csv.DictReader(file))


def run_timing(work: Path, rate: float, seconds: float) -> None:
    trace = mooncake(work / "timing.jsonl", int(rate * seconds), rate)
    up()
    try:
        for processes in (1, 2):
            folder = replay(work, f"p{processes}", trace, [f"load.processes={processes}"])
            lags = sorted(abs(float(r["lag_ms"])) for r in rows(folder) if r["lag_ms"])
            p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
            print(f"load.processes {processes}: {len(lags)} requests at {rate:g}/s; |sent - "
                  f"scheduled| p50 {statistics.median(lags):.1f} ms, p99 {p99:.1f} ms, max "
                  f"{lags[-1]:.1f} ms ({folder})")  # fmt: skip
    finally:
        lifecycle.down()


def prepare_one(trace: Path) -> None:
    """Make the trace ready as `run` does (read through, then the schedule written)."""
    from lab.traces.prepare import Options, Trace

    began = time.monotonic()
    made = Trace(trace, Options(block_tokens=16))
    tally = made.tally()
    made.write(trace.with_suffix(".schedule"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"requests": tally.requests, "seconds": time.monotonic() - began,
                      "peak_mb": peak_mb}))  # fmt: skip


def run_scale(work: Path, lines: int) -> None:
    sizes = {"1,000 lines": 1000, f"{lines:,} lines": lines}
    traces = {name: mooncake(work / f"scale-{n}.jsonl", n, 50.0) for name, n in sizes.items()}
    for name, trace in traces.items():
        done = subprocess.run([sys.executable, __file__, "prepare", str(trace)], check=True,
                              capture_output=True, text=True)  # fmt: skip
        figures = json.loads(done.stdout)
        print(f"{name}: made ready in {figures['seconds']:.1f} s, peak memory "
              f"{figures['peak_mb']:.0f} MB")  # fmt: skip
    up()
    try:
        for name, trace in traces.items():
            began = time.time()
            folder = replay(work, name.split()[0].replace(",", ""), trace,
                            ["scenarios[0].mode=concurrency", "scenarios[0].concurrency=[4]",
                             "scenarios[0].duration=5"])  # fmt: skip
            first = min(float(r["start_time"]) for r in rows(folder))
            print(f"{name}: first request {first - began:.1f} s after the replay started")
    finally:
        lifecycle.down()


if __name__ == "__main__":
    main()
