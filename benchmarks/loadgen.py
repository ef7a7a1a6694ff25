"""Load generator capacity: how many streamed chunks (and requests) per second, and how much CPU
per 1,000 chunks, the lab's Locust user in one process, Locust's master with N workers, and
`vllm bench serve`'s client sustain against a simulated engine that takes no time at all, so
that only the clients work; then the CPU per 1,000 chunks of each at one paced rate (an engine
with a small TPOT, which every client keeps up with: the cost compared at equal throughput,
with chunks arriving one by one rather than in bursts).

    nox -s benchmark -- loadgen [--duration 20] [--repeat 3] [--users 32] [--workers 2]

Each process has --users streams: one process, and each worker of the distributed run (what
N processes sustain is N times the streams; at equal streams per process the CPU per chunk
compares the processes' work, not how densely chunks arrive). vLLM's client has --users.
Each repeat runs the clients one after the other, side by side on one machine (a shared
machine is noisy: compare the clients within a repeat, and read the spread over repeats).
Every figure is taken over each client's steady state: from the moment all its users have a
request in flight (plus a second) to the last moment they all do, so neither start-up (vLLM's
client imports for seconds) nor the drain counts. Chunks are counted where each client
recorded their arrival; CPU is the psutil CPU time of every process of the client, sampled
5 times a second and interpolated at the window's ends.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from rich.table import Table

from lab.config import model
from lab.config.kinds import ThroughputScenario
from lab.console import out
from lab.load import levels, locust
from lab.results import summary
from lab.results.summary import CpuSample
from lab.sim import SimOptions, running
from lab.stack.endpoints import Endpoints, Engine

MODEL = "tiny-llama"
SETTLE = 1.0  # seconds after every user has a request in flight before the window opens
VLLM_BENCH = """
import argparse, sys
from vllm.benchmarks import serve
parser = argparse.ArgumentParser()
serve.add_cli_args(parser)
serve.main(parser.parse_args(sys.argv[1:]))
"""


@dataclass
class Trace:
    """What one client did: per request its send time and its chunks' arrival times (wall
    clock), and its processes' CPU samples."""

    requests: list[tuple[float, list[float]]]
    cpu: list[CpuSample]


@dataclass
class Figures:
    chunks_per_s: float
    requests_per_s: float
    cores: float  # CPU of all the client's processes, in cores
    cpu_ms_per_1000_chunks: float
    sim_cores: float
    window_s: float


class CpuWatch:
    """Samples the CPU time of processes (and their children) in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.processes: dict[str, psutil.Process] = {}
        self.samples: list[CpuSample] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, name: str, pid: int) -> None:
        self.processes[name] = psutil.Process(pid)

    def __enter__(self) -> CpuWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            for name, process in list(self.processes.items()):
                try:
                    tree = [process, *process.children(recursive=True)]
                    used = sum(sum(p.cpu_times()[:2]) for p in tree)
                except psutil.Error:
                    continue
                self.samples.append(CpuSample(time.time(), name, used, None))


def figures(trace: Trace, users: int) -> Figures:
    """The client's figures over its steady state (see the module's docstring)."""
    start, end = steady_window(trace.requests, users)
    chunks = sum(1 for _, times in trace.requests for t in times if start <= t < end)
    done = sum(1 for _, times in trace.requests if times and start <= times[-1] < end)
    use = summary.cpu_use(trace.cpu, start, end)
    cores = sum(u.cores for u in use if u.process != "sim")
    sim = sum(u.cores for u in use if u.process == "sim")
    length = end - start
    return Figures(
        chunks_per_s=chunks / length,
        requests_per_s=done / length,
        cores=cores,
        cpu_ms_per_1000_chunks=cores * length / chunks * 1e6 if chunks else float("nan"),
        sim_cores=sim,
        window_s=length,
    )


def steady_window(requests: list[tuple[float, list[float]]], users: int) -> tuple[float, float]:
    """From SETTLE s after the first moment `users` requests are in flight to the last."""
    events = sorted(
        itertools.chain.from_iterable(
            ((sent, 1), (times[-1], -1)) for sent, times in requests if times
        )
    )
    in_flight, full = 0, []
    for moment, step in events:
        in_flight += step
        if in_flight >= users:
            full.append(moment)
    if len(full) < 2 or full[-1] - full[0] < SETTLE + 3:
        raise SystemExit(f"the client never kept {users} requests in flight for long enough")
    return full[0] + SETTLE, full[-1]


def lab_locust(sim_url: str, work: Path, args: argparse.Namespace, workers: int) -> Trace:
    """The lab's throughput scenario, closed loop, as `lab run` starts it; with workers, each
    has the streams one process has (what N processes sustain is N times as many streams)."""
    streams = args.users * max(1, workers)
    scenario = ThroughputScenario(
        "loadgen", "throughput", (streams,), (), args.duration, args.prompt, args.output,
        seed=None, slo=None,
    )  # fmt: skip
    (level,) = levels.levels(scenario)
    endpoints = Endpoints(sim_url, (Engine("sim", sim_url),), MODEL, "roundrobin", "x-user-id")
    folder = work / f"locust-{workers}"
    (folder / level.name).mkdir(parents=True)
    words = str(model.tiny_dir() / model.WORDS_FILE)
    with CpuWatch() as cpu:
        swarm = locust.start(level, scenario, endpoints, folder, words, workers, [])
        for index, process in enumerate(swarm.processes):
            cpu.watch(f"locust-{index}", process.pid)
        cpu.watch("sim", SIM["pid"])
        if swarm.wait(timeout=args.duration + 120) != 0:
            raise SystemExit(f"Locust failed: see {folder / level.name}")
    requests = []
    for s in summary.read_samples(folder / "requests.csv"):
        if s.ok and s.ttft_ms is not None:
            first = s.start + s.ttft_ms / 1000
            gaps = itertools.accumulate(s.itl_ms, initial=0.0)
            requests.append((s.start, [first + gap / 1000 for gap in gaps]))
    return Trace(requests, cpu.samples)


def vllm_bench(sim_url: str, work: Path, args: argparse.Namespace, prompts: int) -> Trace:
    """vLLM's own client from the installed package, `prompts` requests at --users concurrency."""
    out = work / "vllm"
    argv = [
        "--backend", "openai-chat", "--base-url", sim_url, "--endpoint", "/v1/chat/completions",
        "--model", MODEL, "--tokenizer", str(model.tiny_dir()), "--dataset-name", "random",
        "--random-input-len", str(args.prompt), "--random-output-len", str(args.output),
        "--num-prompts", str(prompts), "--max-concurrency", str(args.users), "--ignore-eos",
        "--disable-tqdm", "--save-result", "--save-detailed", "--result-dir", str(out),
        "--result-filename", "vllm.json",
    ]  # fmt: skip
    out.mkdir(parents=True)
    with CpuWatch() as cpu, (out / "vllm.log").open("w") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", VLLM_BENCH, *argv], stdout=log, stderr=subprocess.STDOUT
        )
        cpu.watch("vllm", child.pid)
        cpu.watch("sim", SIM["pid"])
        if child.wait() != 0:
            raise SystemExit(f"vllm bench serve failed: see {out / 'vllm.log'}")
    result = json.loads((out / "vllm.json").read_text())
    # Its times are time.perf_counter(): CLOCK_MONOTONIC, the same in every process here.
    to_wall = time.time() - time.perf_counter()
    requests = []
    for sent, ttft, itls in zip(
        result["start_times"], result["ttfts"], result["itls"], strict=True
    ):
        if ttft:
            first = sent + to_wall + ttft
            times = [first + gap for gap in itertools.accumulate(itls, initial=0.0)]
            requests.append((sent + to_wall, times))
    return Trace(requests, cpu.samples)


SIM: dict[str, int] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per client")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--users", type=int, default=32, help="requests in flight")
    parser.add_argument("--workers", type=int, default=2, help="workers of the distributed run")
    parser.add_argument("--prompt", type=int, default=128, help="prompt tokens")
    parser.add_argument("--output", type=int, default=128, help="output tokens (chunks)")
    parser.add_argument(
        "--paced-tpot-ms", type=float, default=2.0, help="the paced engine's time per token"
    )
    args = parser.parse_args()
    model.ensure_tiny()
    saved = Path(tempfile.mkdtemp(prefix="loadgen-")) / "figures.json"
    found = {}
    for tpot in (0.0, args.paced_tpot_ms):
        results = measure(args, tpot)
        show(results, args, tpot)
        found[f"tpot_{tpot:g}_ms"] = {k: [vars(f) for f in v] for k, v in results.items()}
        saved.write_text(json.dumps(found, indent=2))
    out.print(f"figures: {saved}")


def measure(args: argparse.Namespace, tpot: float) -> dict[str, list[Figures]]:
    """Each client, one after the other, `args.repeat` times, against one simulated engine."""
    clients = ("Locust, 1 process", f"Locust, master + {args.workers} workers", "vllm bench serve")
    results: dict[str, list[Figures]] = {name: [] for name in clients}
    with running(SimOptions(served_model_name=MODEL, tpot_ms=tpot)) as sim:
        SIM["pid"] = sim.pid
        for repeat in range(args.repeat):
            work = Path(tempfile.mkdtemp(prefix=f"loadgen-tpot{tpot:g}-{repeat}-"))
            one = figures(lab_locust(sim.url, work, args, 0), args.users)
            many = figures(lab_locust(sim.url, work, args, args.workers), args.users * args.workers)
            # As many prompts as one Locust process got through in the same time, and more.
            prompts = int(one.requests_per_s * args.duration * 1.2)
            trace = vllm_bench(sim.url, work, args, max(prompts, 4 * args.users))
            theirs = figures(trace, args.users)
            for name, found in zip(clients, (one, many, theirs), strict=True):
                results[name].append(found)
            out.print(f"TPOT {tpot:g} ms: repeat {repeat + 1}/{args.repeat} done ({work})")
    return results


def show(results: dict[str, list[Figures]], args: argparse.Namespace, tpot: float) -> None:
    pace = f"an engine with TPOT {tpot:g} ms" if tpot else "a zero-latency engine (flat out)"
    table = Table(
        title=f"{args.users} streams per process (per worker) of {args.output} chunks against "
        f"{pace}; median (min-max) of {args.repeat} repeats"
    )
    columns = (
        ("chunks/s", "chunks_per_s", "{:,.0f}"),
        ("requests/s", "requests_per_s", "{:,.0f}"),
        ("client CPU, cores", "cores", "{:.2f}"),
        ("CPU ms per 1,000 chunks", "cpu_ms_per_1000_chunks", "{:.1f}"),
        ("sim CPU, cores", "sim_cores", "{:.2f}"),
    )
    table.add_column("client")
    for title, _, _ in columns:
        table.add_column(title, justify="right")
    for name, runs in results.items():
        cells = []
        for _, key, fmt in columns:
            values = [getattr(r, key) for r in runs]
            low, mid, high = min(values), statistics.median(values), max(values)
            cells.append(f"{fmt.format(mid)} ({fmt.format(low)}-{fmt.format(high)})")
        table.add_row(name, *cells)
    out.print(table)
    # Ratios within each repeat (side by side on the same machine), then their spread.
    theirs = [r.cpu_ms_per_1000_chunks for r in results["vllm bench serve"]]
    one = [r.cpu_ms_per_1000_chunks for r in results["Locust, 1 process"]]
    for name, runs in results.items():
        ratios = [r.cpu_ms_per_1000_chunks / t for r, t in zip(runs, theirs, strict=True)]
        to_one = [r.cpu_ms_per_1000_chunks / o for r, o in zip(runs, one, strict=True)]
        out.print(
            f"{name}: CPU per chunk {_spread(ratios)} x vllm bench serve's, "
            f"{_spread(to_one)} x one Locust process's"
        )


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
