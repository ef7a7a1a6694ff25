"""Where the real vllm-router's concurrency ends: many cheap simulated engines, each on its own
port, behind it, and long concurrent streams stepping up through 100, 250, 500, 1,000 and
2,000 (closed loop: each stream starts its next request as one ends).

    nox -s benchmark -- router-stress [--steps 100,250,500,1000,2000] [--json FILE]

The token pace (--tpot-ms, 500 ms by default: 2 chunks a second per stream, 4,000 a second at
2,000 streams) is slow enough for one Locust process to read every chunk: one process carried
15,923 chunks/s paced (docs/measurements/load-generator.md), four times that. Whether it did
is checked at every step anyway (`client_limited`, lab.results.summary.client_limit).

The file-descriptor limit (RLIMIT_NOFILE) is raised to its hard limit before anything starts,
for this process and so for the router and Locust it starts, and both are reported; a step
that needs more descriptors than the hard limit allows (a stream holds one in Locust and two
in the router) is refused before anything starts, exit 2.

Per step, over the load after its ramp (--ramp s, then --hold s): the router's RSS (and per
1,000 streams above its idle RSS), CPU (cores) and open descriptors at most; failures by
class (requests.csv's `failure`); and the latency the router adds to each request: the lab's
TTFT less the engine's own (its send log: from the request's arrival to its first chunk
handed to the socket), so what is left is the time outside the engine, there and back. The
first step where a request fails or the added p99 passes 50 ms is named with its limit: the
file descriptors (the router or Locust near its limit), the client (client_limited), the
machine (its CPUs 90% busy), else the router.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import numpy as np
import psutil
from rich.table import Table

from lab.config import commandlines, model, profile
from lab.config.kinds import ThroughputScenario
from lab.console import out
from lab.inproc.samples import CPU_FILE
from lab.load import levels, locust
from lab.results import summary
from lab.sim import SimOptions, running
from lab.stack import processes
from lab.stack.endpoints import Endpoints, Engine

MODEL = "tiny-llama"
STEPS = (100, 250, 500, 1000, 2000)
FDS_PER_STREAM = 2  # the router's: the client's connection and the engine's
FD_MARGIN = 200  # listeners, logs, libraries: what a process holds with no stream
ADDED_P99_MS = 50.0
BUSY_MACHINE = 0.9  # share of every CPU busy over a step
NEAR_LIMIT = 0.9  # share of a descriptor limit in use


class Refused(Exception):
    """A step this machine cannot hold; said before anything starts."""


def raise_nofile() -> tuple[int, int]:
    """RLIMIT_NOFILE raised to its hard limit (children inherit it): (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        soft = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft, hard


def check_steps(steps: list[int], limit: int) -> None:
    """Refuse any step whose streams need more descriptors than `limit` in one process."""
    for streams in steps:
        needed = streams * FDS_PER_STREAM + FD_MARGIN
        if needed > limit:
            raise Refused(
                f"--steps: {streams} streams need about {needed} open files in the router "
                f"({FDS_PER_STREAM} a stream + {FD_MARGIN}); RLIMIT_NOFILE cannot be raised "
                f"above {limit} here (raise the hard limit: ulimit -Hn, limits.conf)"
            )


@dataclass
class Watch:
    """The router's RSS, CPU and open descriptors, Locust's descriptors and the machine's CPU,
    sampled every second over a window."""

    router: psutil.Process
    rss_mb: float = 0.0
    fds: int = 0
    client_fds: int = 0
    cpu_s: float = 0.0
    machine_busy: float = 0.0

    @contextlib.contextmanager
    def over(self, client: psutil.Process | None) -> Iterator[None]:
        stop = threading.Event()
        began, cpu0 = time.monotonic(), sum(self.router.cpu_times()[:2])
        psutil.cpu_percent()
        thread = threading.Thread(target=self._sample, args=(client, stop), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
            self.cpu_s = (sum(self.router.cpu_times()[:2]) - cpu0) / (time.monotonic() - began)
            self.machine_busy = psutil.cpu_percent() / 100

    def _sample(self, client: psutil.Process | None, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            with contextlib.suppress(psutil.Error):
                self.rss_mb = max(self.rss_mb, self.router.memory_info().rss / 1e6)
                self.fds = max(self.fds, self.router.num_fds())
                if client is not None:
                    self.client_fds = max(self.client_fds, client.num_fds())


def engine_ttfts(logs: list[Path], since: float) -> dict[str, list[tuple[float, float]]]:
    """Per engine, (arrival, its own TTFT in ms) of each request that arrived after `since`."""
    found: dict[str, list[tuple[float, float]]] = {}
    for path in logs:
        rows = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["arrival"] >= since and record["first_token"] is not None:
                rows.append((record["arrival"], (record["first_token"] - record["arrival"]) * 1e3))
        found[path.stem] = sorted(rows)
    return found


def added_latency(samples: list[summary.Sample], engines: dict[str, list]) -> np.ndarray:
    """Each successful request's TTFT less its engine's own. Requests and log lines of one
    engine are paired in time order (the client's start, the engine's arrival): a request
    arrives after it starts, and streams of one engine seldom start within a millisecond."""
    added = []
    for name, logged in engines.items():
        mine = sorted((s.start, s.ttft_ms) for s in samples if s.engine == name and s.ok)
        index = 0
        for start, ttft in mine:
            while index < len(logged) and logged[index][0] < start - 0.005:
                index += 1
            if index == len(logged) or ttft is None:
                break
            added.append(ttft - logged[index][1])
            index += 1
    return np.array(added)


def limit_of(row: dict, soft: int, client_soft: int) -> str:
    """What the limit was at a step that failed or added too much."""
    if row["router_fds"] >= NEAR_LIMIT * soft or row["client_fds"] >= NEAR_LIMIT * client_soft:
        return "file descriptors"
    if row["client_limited"]:
        return f"client (client_limited: {row['client_limited']})"
    if row["machine_busy"] >= BUSY_MACHINE:
        return f"machine ({row['machine_busy']:.0%} of its CPUs busy)"
    return "router"


@contextlib.contextmanager
def stack(work: Path, engines: int, tpot_ms: float) -> Iterator[tuple[Endpoints, processes.Proc]]:
    """`engines` simulated engines, each on its own port with its send log, behind vllm-router."""
    with contextlib.ExitStack() as started:
        sims = []
        for index in range(engines):
            name = f"sim-{index}"
            options = SimOptions(name=name, served_model_name=MODEL, ttft_ms=5, tpot_ms=tpot_ms,
                                 send_log=str(work / f"{name}.jsonl"))  # fmt: skip
            sims.append(started.enter_context(running(options, log=work / f"{name}.log")))
        port, metrics = processes.free_port(32080), processes.free_port(32580)
        urls = [sim.url for sim in sims]
        command = commandlines.router_command(profile.load("cpu"), urls, port, metrics)
        router = processes.spawn("router", command, work / "router.log")
        started.callback(processes.stop, router)
        url = f"http://127.0.0.1:{port}"
        if not processes.wait_until(lambda: _answers(f"{url}/health"), timeout=60):
            raise SystemExit(f"vllm-router did not start: {processes.tail(router.log)}")
        named = tuple(Engine(sim.name, sim.url) for sim in sims)
        yield Endpoints(url, named, MODEL, "roundrobin", "x-user-id"), router


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run_step(
    work: Path, endpoints: Endpoints, router: psutil.Process, streams: int, args: argparse.Namespace
) -> dict:
    """One step's figures: `streams` closed-loop streams, ramped up over --ramp s, then held."""
    scenario = ThroughputScenario(
        f"s{streams}", "throughput", (streams,), (), args.ramp + args.hold, 8, args.output_tokens,
        seed=None, slo=None,
    )  # fmt: skip
    (level,) = levels.levels(scenario)
    level = replace(level, spawn_rate=max(1.0, streams / args.ramp))
    folder = work / scenario.name
    (folder / level.name).mkdir(parents=True)
    words = str(model.tiny_dir() / model.WORDS_FILE)
    began = time.time()
    swarm = locust.start(level, scenario, endpoints, folder, words, 0, [])
    client = psutil.Process(swarm.lead.pid)
    time.sleep(args.ramp)
    watch = Watch(router)
    held = time.time()
    with watch.over(client):
        code = swarm.wait(timeout=level.run_time + locust.STOP_TIMEOUT + 120)
    if code != 0:
        raise SystemExit(f"Locust exited {code}: see {folder / level.name / 'locust.log'}")
    samples = [s for s in summary.read_samples(folder / "requests.csv") if s.start >= held]
    cpu = summary.read_cpu(folder / level.name / CPU_FILE)
    logs = sorted(work.glob("sim-*.jsonl"))
    added = added_latency(samples, engine_ttfts(logs, held - 1.0))
    failures = Counter(s.failure or "failed" for s in samples if not s.ok)
    return {
        "streams": streams,
        "requests": len(samples),
        "failures": dict(failures),
        "router_rss_mb": watch.rss_mb,
        "router_cpu_cores": watch.cpu_s,
        "router_fds": watch.fds,
        "client_fds": watch.client_fds,
        "added_p50_ms": float(np.percentile(added, 50)) if added.size else None,
        "added_p99_ms": float(np.percentile(added, 99)) if added.size else None,
        "paired": int(added.size),
        "client_limited": summary.client_limit(samples, cpu),
        "machine_busy": watch.machine_busy,
        "load_average": psutil.getloadavg()[0],
        "seconds": round(time.time() - began, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default=",".join(map(str, STEPS)),
                        help="concurrent streams of each step, comma-separated")  # fmt: skip
    parser.add_argument("--per-engine", type=int, default=50, help="streams per simulated engine")
    parser.add_argument("--tpot-ms", type=float, default=500.0, help="the engines' token pace")
    parser.add_argument("--output-tokens", type=int, default=40, help="tokens of each stream")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds to start the streams")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds measured per step")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    steps = sorted(int(x) for x in args.steps.split(","))
    soft, hard = raise_nofile()
    try:
        check_steps(steps, soft)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engines = math.ceil(steps[-1] / args.per_engine)
    with tempfile.TemporaryDirectory(prefix="router-stress-") as tmp:
        work = Path(tmp)
        with stack(work, engines, args.tpot_ms) as (endpoints, router):
            proc = psutil.Process(router.pid)
            idle = proc.memory_info().rss / 1e6
            router_soft = proc.rlimit(psutil.RLIMIT_NOFILE)[0]
            rows = [run_step(work, endpoints, proc, n, args) for n in steps]
    result = summarize(rows, idle, router_soft, soft, args, engines)
    result["rlimit_nofile"]["hard"] = hard
    show(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def summarize(
    rows: list[dict], idle: float, router_soft: int, client_soft: int, args, engines: int
) -> dict:
    """The steps with the router's RSS per 1,000 streams, and the first step that broke."""
    for row in rows:
        row["router_rss_mb_per_1000"] = (row["router_rss_mb"] - idle) / row["streams"] * 1000
    broke = next(
        (r for r in rows if r["failures"] or (r["added_p99_ms"] or 0) > ADDED_P99_MS), None
    )
    return {
        "pace": {
            "tpot_ms": args.tpot_ms,
            "output_tokens": args.output_tokens,
            "chunks_per_s_at_top": rows[-1]["streams"] * 1000 / args.tpot_ms,
        },
        "engines": engines,
        "rlimit_nofile": {"router": router_soft, "client": client_soft},
        "router_idle_rss_mb": idle,
        "steps": rows,
        "first_break": None
        if broke is None
        else {
            "streams": broke["streams"],
            "limit": limit_of(broke, router_soft, client_soft),
        },
        "cpus": psutil.cpu_count(),
    }


def show(result: dict) -> None:
    pace = result["pace"]
    table = Table(
        title=f"vllm-router under concurrent streams: {result['engines']} simulated engines, "
        f"a token every {pace['tpot_ms']:g} ms, RLIMIT_NOFILE router "
        f"{result['rlimit_nofile']['router']}, client {result['rlimit_nofile']['client']}"
    )
    for column in ("streams", "requests", "failures", "router RSS MB", "MB per 1,000 streams",
                   "router CPU", "router fds", "added p50 ms", "added p99 ms", "client limited",
                   "machine busy", "load avg"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in result["steps"]:
        table.add_row(
            str(r["streams"]), str(r["requests"]),
            ", ".join(f"{k} {v}" for k, v in r["failures"].items()) or "0",
            f"{r['router_rss_mb']:.0f}", f"{r['router_rss_mb_per_1000']:.1f}",
            f"{r['router_cpu_cores']:.2f}", str(r["router_fds"]), _ms(r["added_p50_ms"]),
            _ms(r["added_p99_ms"]), r["client_limited"] or "no", f"{r['machine_busy']:.0%}",
            f"{r['load_average']:.1f}",
        )  # fmt: skip
    out.print(table)
    broke = result["first_break"]
    if broke is None:
        out.print(f"no step failed a request or added more than {ADDED_P99_MS:g} ms at p99")
    else:
        out.print(f"first step that broke: {broke['streams']} streams; limit: {broke['limit']}")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
