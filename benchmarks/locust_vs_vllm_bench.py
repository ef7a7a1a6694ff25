"""The lab's Locust throughput scenario beside `vllm bench serve`: which client times a stream
right, judged by a server whose timeline is known, and how the two compare on the real stack.

    nox -s benchmark -- locust-vs-vllm-bench --against sim [--concurrency 1 2 8 32]
    nox -s benchmark -- locust-vs-vllm-bench --against stack [--concurrency 2] [--pairs 4]

`--against sim`: a simulated engine with TTFT 50 ms and TPOT 10 ms and 32 batch slots, behind
the real vllm-router. Its send log says when it sent each request's first and last token, so
each client's medians of TTFT and TPOT are held to the log's (the log starts the clock when
the request reached the engine: the router's forwarding is the only other time in a client's
TTFT). Each client runs against a fresh engine, the lab's first.

`--against stack`: the real local stack (brought up unless one is up), a warm-up turn of each
client, then the clients (`--clients`) in interleaved pairs at each concurrency, until the
lab's TTFT p50 against the referee's and against vllm bench serve's resolves ±10% (`--resolve`)
or `--pairs` is reached; medians side by side with their ratios, and each held
against the referee: the engine middleware's own record of when each request arrived and when
its first token left (lab.inproc.referee), taken in each client's turn; and, per request,
by the ID the referee returned, how far the lab's TTFT lies beyond the engine's; and, on the
engine's clock, how much later the first text left than the first token. A stack this
benchmark brings up has the referee on; one already up has it only if it was started with
LAB_REFEREE_DIR set (its referee columns are empty otherwise). vllm bench serve's results are
saved with --save-detailed, so that `lab import vllm-bench` reads them per request.

Both stack pairs and `--against sim-series` (the two clients turn about, in pairs, against one
simulated engine behind vllm-router; its send log stands in for the referee) then make each
turn a results folder (lab.interop.refereed; vllm bench's through `lab import vllm-bench
--per-request`), and the referee's view of it another, and print `compare --paired` of each
client against the referee and of the lab against vllm bench serve.

    nox -s benchmark -- locust-vs-vllm-bench --against sim-series --pairs 2 --duration 8

`--against wire`: where the lab's TTFT goes. The lab's throughput scenario on the real stack
(referee on), with tcpdump on the loopback (Debian's package; root or CAP_NET_RAW): each
request's TTFT split, by the referee ID its answer carries, into the client's send, the
router's forwarding, the engine's API server reading it (to the referee's arrival), the engine
(the referee's first chunk), the engine's write of the first token, the router's return of it,
and the client's read of it: kernel timestamps on the wire between the processes' own clocks.

    nox -s benchmark -- locust-vs-vllm-bench --against wire --concurrency 1 2 --duration 20

vLLM's client runs from the installed vllm package (its `vllm` script does not), in its own
process, as the lab's Locust does.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from rich.table import Table
from scipy import stats

from lab import files
from lab.config import commandlines, model, profile
from lab.config.kinds import ThroughputScenario
from lab.console import out
from lab.inproc import referee
from lab.interop import refereed
from lab.load import levels, lifecycle, locust
from lab.results import summary
from lab.sim import SimOptions, running, sendlog
from lab.stack import processes, state, status
from lab.stack.endpoints import Endpoints, Engine


@dataclass(frozen=True)
class Lengths:
    prompt: int = 128
    output: int = 32


SIM_TTFT_MS, SIM_TPOT_MS, SIM_SLOTS = 50.0, 10.0, 32
VLLM_BENCH = """
import argparse, sys
from vllm.benchmarks import serve
parser = argparse.ArgumentParser()
serve.add_cli_args(parser)
serve.main(parser.parse_args(sys.argv[1:]))
"""


def run_vllm_bench(
    endpoints: Endpoints, out: Path, concurrency: int, n: int, lengths: Lengths
) -> dict:
    """vllm bench serve at a fixed concurrency: its result JSON. Each run with a seed of its
    own: vllm bench serve's random dataset is seeded (--seed, 0 by default), so runs with one
    seed send the same prompts, and from the second on they are in the engines' prefix cache
    (the referee saw the engine's TTFT halve), where the lab's prompts are new each run."""
    seed = random.randrange(1 << 31)
    args = [
        "--backend", "openai-chat", "--base-url", endpoints.router,
        "--endpoint", "/v1/chat/completions", "--model", endpoints.model,
        "--tokenizer", str(model.tiny_dir()), "--dataset-name", "random",
        "--random-input-len", str(lengths.prompt), "--random-output-len", str(lengths.output),
        "--num-prompts", str(n), "--ignore-eos", "--max-concurrency", str(concurrency),
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--disable-tqdm",
        "--save-result", "--save-detailed", "--result-dir", str(out),
        "--result-filename", "vllm.json", "--seed", str(seed),
    ]  # fmt: skip
    out.mkdir(parents=True)
    with (out / "vllm.log").open("w") as log:
        code = subprocess.call([sys.executable, "-c", VLLM_BENCH, *args], stdout=log, stderr=log)
    if code != 0:
        raise SystemExit(f"vllm bench serve failed with {code}: see {out / 'vllm.log'}")
    return json.loads((out / "vllm.json").read_text())


def run_locust(
    endpoints: Endpoints,
    folder: Path,
    concurrency: int,
    duration: int,
    lengths: Lengths,
    together: bool = False,
) -> dict:
    """The lab's throughput scenario, closed loop, as `lab run` starts it (its users one after
    the other over a second), or with every user started at once (`together`, as vllm bench
    serve starts its requests): the level's summary."""
    scenario = ThroughputScenario(
        "bench", "throughput", (concurrency,), (), duration, lengths.prompt, lengths.output,
        seed=None, slo=None,
    )  # fmt: skip
    (level,) = levels.levels(scenario)
    if together:
        level = replace(level, spawn_rate=1000.0)
    (folder / level.name).mkdir(parents=True)
    words = str(model.tiny_dir() / model.WORDS_FILE)
    swarm = locust.start(level, scenario, endpoints, folder, words, 0, [])
    if swarm.wait(timeout=duration + 120) != 0:
        raise SystemExit(f"Locust failed: see {folder / level.name / 'locust.log'}")
    return summary.summarize(summary.read_samples(folder / "requests.csv"))


# --- against the simulated engine ------------------------------------------------------------


@contextlib.contextmanager
def sim_behind_router(send_log: Path) -> Iterator[Endpoints]:
    """A fresh simulated engine on the known timeline, behind the real vllm-router."""
    options = SimOptions(
        served_model_name="tiny-llama",
        ttft_ms=SIM_TTFT_MS,
        tpot_ms=SIM_TPOT_MS,
        max_batch=SIM_SLOTS,
        send_log=str(send_log),
    )
    with running(options) as sim:
        port, metrics = processes.free_port(31080), processes.free_port(31580)
        command = commandlines.router_command(profile.load("cpu"), [sim.url], port, metrics)
        router = processes.spawn("router", command, send_log.with_suffix(".router.log"))
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(timeout=2) as health:
                started = processes.wait_until(lambda: status.answers(health, f"{url}/health"), 30)
            if not started:
                raise SystemExit(f"vllm-router did not start: {processes.tail(router.log)}")
            yield Endpoints(url, (Engine("sim", sim.url),), "tiny-llama", "roundrobin", "x-user-id")
        finally:
            processes.stop(router)


@dataclass(frozen=True)
class EngineLog:
    """What the engine's send log says of one client's run: its median TTFT (arrival to first
    token sent) and TPOT, in ms, and the share of requests that arrived within TOGETHER_MS of
    another one (a client whose requests start in lockstep meets an engine that is idle)."""

    ttft_ms: float
    tpot_ms: float
    together: float


TOGETHER_MS = 5.0


def engine_log(path: Path) -> EngineLog:
    ttft, tpot, arrivals = [], [], []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        arrivals.append(record["arrival"])
        if record["first_token"] is None or record["tokens"] < 2:
            continue
        ttft.append((record["first_token"] - record["arrival"]) * 1000)
        tpot.append((record["last_token"] - record["first_token"]) * 1000 / (record["tokens"] - 1))
    arrivals.sort()
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    near = [
        min(before, after) < TOGETHER_MS
        for before, after in zip([math.inf, *gaps], [*gaps, math.inf], strict=True)
    ]
    return EngineLog(statistics.median(ttft), statistics.median(tpot), sum(near) / len(near))


def against_sim(args: argparse.Namespace, work: Path) -> None:
    table = Table(
        title=f"known timeline: simulated engine (TTFT {SIM_TTFT_MS:g} ms, TPOT {SIM_TPOT_MS:g} "
        f"ms, {SIM_SLOTS} slots) behind vllm-router; medians in ms, client minus engine log"
    )
    for column in ("concurrency", "engine TTFT", "lab TTFT", "vllm TTFT", "engine TPOT",
                   "lab TPOT", "vllm TPOT", "arrived together", "load avg"):  # fmt: skip
        table.add_column(column, justify="right")
    for concurrency, repeat in itertools.product(args.concurrency, range(args.repeat)):
        lengths = Lengths(args.prompt, args.output)
        request_s = (SIM_TTFT_MS + (lengths.output - 1) * SIM_TPOT_MS) / 1000
        n = max(20, int(concurrency * args.duration / request_s))
        name = f"c{concurrency}-{repeat}"
        log = work / f"{name}-lab.jsonl"
        with sim_behind_router(log) as endpoints:
            lab = run_locust(endpoints, work / f"{name}-lab", concurrency, args.duration, lengths)
        ours = engine_log(log)
        log = work / f"{name}-vllm.jsonl"
        with sim_behind_router(log) as endpoints:
            vllm = run_vllm_bench(endpoints, work / f"{name}-vllm", concurrency, n, lengths)
        theirs = engine_log(log)

        def cell(client: float, engine: float) -> str:
            return f"{client:.1f} ({client - engine:+.1f})"

        table.add_row(
            str(concurrency),
            f"{ours.ttft_ms:.1f} / {theirs.ttft_ms:.1f}",
            cell(lab["p50_ttft_ms"], ours.ttft_ms),
            cell(vllm["median_ttft_ms"], theirs.ttft_ms),
            f"{ours.tpot_ms:.2f} / {theirs.tpot_ms:.2f}",
            cell(lab["p50_tpot_ms"], ours.tpot_ms),
            cell(vllm["median_tpot_ms"], theirs.tpot_ms),
            f"{ours.together:.0%} / {theirs.together:.0%}",
            f"{os.getloadavg()[0]:.1f}",  # a shared machine's other work delays every client
        )
    out.print(table)
    out.print(f"(engine and arrival columns: lab run / vllm run; files in {work})")


# --- against the real stack -----------------------------------------------------------------


@contextlib.contextmanager
def referee_stack(work: Path) -> Iterator[Endpoints]:
    """The local `cpu` stack with the referee on: brought up (and down after), or the one up."""
    os.environ.setdefault("LAB_STATE_DIR", str(work / "state"))
    # The engines this benchmark starts inherit it: their middleware then keeps the referee.
    os.environ.setdefault(referee.DIR_ENV, str(work / "referee"))
    existing = state.load()
    if existing is not None:
        out.print(f"a stack was up: its engines keep the referee only if {referee.DIR_ENV} was set")
    current = existing or lifecycle.up(profile.load("cpu"), "local")[1]
    try:
        yield current.require_endpoints()
    finally:
        if existing is None:  # a stack this benchmark brought up is stopped by it
            lifecycle.down()


def against_stack(args: argparse.Namespace, work: Path) -> None:
    with referee_stack(work) as endpoints:
        for concurrency in args.concurrency:
            pairs(endpoints, work, concurrency, args)


def one_run(
    client: str,
    endpoints: Endpoints,
    place: Path,
    concurrency: int,
    args: argparse.Namespace,
    n: int,
) -> dict:
    """One client's run of a pair: the lab, vllm bench serve (its result JSON), or the lab with
    its users started together."""
    lengths = Lengths(args.prompt, args.output)
    if client == "vllm":
        return run_vllm_bench(endpoints, place / client, concurrency, n, lengths)
    together = client == "together"
    return run_locust(endpoints, place / client, concurrency, args.duration, lengths, together)


def referee_records() -> list[dict]:
    """The stack's referee records so far (none when its engines keep no referee)."""
    folder = Path(os.environ[referee.DIR_ENV])
    return referee.read(folder) if folder.is_dir() else []


def judged(
    run: Callable[[], dict], series: refereed.Series, client: str, place: Path
) -> tuple[dict, float | None]:
    """A client's run, and the referee's median TTFT of the requests that reached the engines
    during it (arrival to first token, on the engine's clock); None without a referee. The
    turn joins the series."""
    began = time.time()
    found = run()
    ended = time.time()
    series.add(client, place / client, began, ended)
    records = series.records()
    ttfts = [
        r["first_chunk_ms"]
        for r in records
        if began <= r["arrived"] <= ended and r["status"] == 200 and r["first_chunk_ms"] is not None
    ]
    return found, statistics.median(ttfts) if ttfts else None


def per_request_gap(requests: Path) -> str:
    """The median and p90 over the lab's requests of its TTFT minus the referee's for the same
    request (matched by the ID the referee returned, requests.csv's referee_id): the
    milliseconds the lab's TTFT holds beyond the engine's own."""
    folder = Path(os.environ[referee.DIR_ENV])
    if not folder.is_dir():
        return "-"
    engine = {r["id"]: r["first_chunk_ms"] for r in referee.read(folder) if r["first_chunk_ms"]}
    gaps = [
        float(row["ttft_ms"]) - engine[row["referee_id"]]
        for _, row in files.csv_rows(requests, "requests.csv")
        if row.get("ttft_ms") and row.get("referee_id") in engine
    ]
    if len(gaps) < 10:
        return "-"
    p90 = statistics.quantiles(gaps, n=10)[-1]
    return f"{statistics.median(gaps):+.1f} / {p90:+.1f} ({len(gaps)})"


def text_wait(began: float, ended: float) -> str:
    """On the engine's clock, over the requests that arrived between `began` and `ended`: the
    median of first text minus first chunk (what a client that waits for text adds to TTFT),
    and the share of requests whose first token carried no text: a wait of over 1 ms, a token's
    time at the least (a chat stream's role chunk goes a fraction of a millisecond before its
    first token's)."""
    waits = [
        r["first_text_ms"] - r["first_chunk_ms"]
        for r in referee_records()
        if began <= r["arrived"] <= ended and r["status"] == 200
        and r["first_text_ms"] is not None and r["first_chunk_ms"] is not None
    ]  # fmt: skip
    if not waits:
        return "-"
    held = sum(wait > 1.0 for wait in waits) / len(waits)
    return f"{statistics.median(waits):.1f} ({held:.0%})"


def ratio(client: float, engine: float | None) -> str:
    """The referee's median, and the client's as a ratio of it."""
    if engine is None:
        return "-"
    return f"{engine:.1f} ({client / engine:.2f})"


MIN_PAIRS = 4


def resolved(ratios: list[float], within: float) -> bool:
    """Whether the paired 90% interval of the geometric mean of per-pair `ratios` lies within
    a factor of 1 + `within` either side of it: enough pairs to resolve a change that size."""
    if len(ratios) < MIN_PAIRS:
        return False
    logs = [math.log(ratio) for ratio in ratios]
    half = stats.t.ppf(0.95, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(half) - 1 <= within


def warm_up(endpoints: Endpoints, work: Path, concurrency: int, args: argparse.Namespace) -> None:
    """One turn of each client, not counted: a stack just brought up (or idle since) answers its
    first requests slower, and the first pair would carry that."""
    place = work / f"c{concurrency}-warm-up"
    short = argparse.Namespace(**{**vars(args), "duration": 5})
    for client in args.clients:
        one_run(client, endpoints, place, concurrency, short, max(10, concurrency * 10))


def pairs(endpoints: Endpoints, work: Path, concurrency: int, args: argparse.Namespace) -> None:
    """Interleaved runs of the lab (users started one after the other, as `lab run` does),
    vllm bench serve, and the lab with its users started together (as vllm bench serve's),
    after a warm-up turn of each; as many pairs as it takes the lab's TTFT p50, against the
    referee's and against vllm bench serve's, to resolve ±`args.resolve` (up to `args.pairs`)."""
    lengths = Lengths(args.prompt, args.output)
    table = Table(
        title=f"real stack, concurrency {concurrency}, {lengths.prompt} in / {lengths.output} "
        "out: medians, ms"
    )
    for column in ("pair", "lab TTFT", "vllm TTFT", "lab / vllm", "lab together",
                   "together / vllm", "referee: lab (lab / ref)", "referee: vllm (vllm / ref)",
                   "lab - referee, per request (n)", "text - first chunk (no text)",
                   "lab TPOT", "vllm TPOT", "lab E2E", "vllm E2E"):  # fmt: skip
        table.add_column(column, justify="right")
    # vLLM's client gets about as many requests as Locust sends in --duration s (a request
    # takes about half a second on the CPU stack).
    n = max(20, int(concurrency * args.duration / 0.5))
    clients = args.clients
    series = refereed.Series(work / f"c{concurrency}-series", referee_records)
    warm_up(endpoints, work, concurrency, args)
    to_referee: list[float] = []
    to_vllm: list[float] = []
    for pair in range(args.pairs):
        place = work / f"c{concurrency}-pair{pair}"
        # Each pair in another order: the drift of a shared machine falls on every client.
        order = clients[pair % len(clients) :] + clients[: pair % len(clients)]
        began = time.time()
        found = {
            name: judged(
                partial(one_run, name, endpoints, place, concurrency, args, n), series, name, place
            )
            for name in order
        }
        (lab, lab_ref), (vllm, vllm_ref) = found["lab"], found["vllm"]
        same = found.get("together", (None, None))[0]
        ttft = vllm["median_ttft_ms"]
        if lab_ref is not None:
            to_referee.append(lab["p50_ttft_ms"] / lab_ref)
        to_vllm.append(lab["p50_ttft_ms"] / ttft)
        table.add_row(
            str(pair + 1),
            f"{lab['p50_ttft_ms']:.1f}",
            f"{ttft:.1f}",
            f"{lab['p50_ttft_ms'] / ttft:.2f}",
            f"{same['p50_ttft_ms']:.1f}" if same else "-",
            f"{same['p50_ttft_ms'] / ttft:.2f}" if same else "-",
            ratio(lab["p50_ttft_ms"], lab_ref),
            ratio(ttft, vllm_ref),
            per_request_gap(place / "lab" / "requests.csv"),
            text_wait(began, time.time()),
            f"{lab['p50_tpot_ms']:.1f}",
            f"{vllm['median_tpot_ms']:.1f}",
            f"{lab['p50_e2e_ms']:.0f}",
            f"{vllm['median_e2el_ms']:.0f}",
        )
        out.print(f"pair {pair + 1} at concurrency {concurrency} done")
        if resolved(to_vllm, args.resolve) and (not lab_ref or resolved(to_referee, args.resolve)):
            out.print(f"resolved to ±{args.resolve:.0%} after {pair + 1} pairs")
            break
    out.print(table)
    compare_series(series)


# --- on the wire: where the lab's TTFT goes between the client, the router and the engine -----

ID_HEADER = re.compile(rb"(?i)\r\n" + re.escape(referee.ANSWER_HEADER) + rb": *([^\r\n]+)")
EVENT = re.compile(rb"data: (\{[^\n]*\})")
ETHERNET = 1  # the pcap link type of Linux's loopback
HOPS = ("client sends", "router forwards", "engine reads", "engine: first chunk",
        "engine writes", "router returns", "client reads")  # fmt: skip


@dataclass
class Exchange:
    """One request and its answer on one TCP connection, as tcpdump saw them (Unix times)."""

    sent: float
    id: str = ""
    first_token: float | None = None


@contextlib.contextmanager
def captured(file: Path, ports: list[int]) -> Iterator[None]:
    """tcpdump on the loopback, on the router's and the engines' ports, for the block."""
    wanted = " or ".join(f"port {port}" for port in ports)
    command = ["tcpdump", "-i", "lo", "-s", "0", "-U", "-B", "16384", "-w", str(file),
               f"tcp and ({wanted})"]  # fmt: skip
    log = file.with_suffix(".log")
    with log.open("w") as errors:
        dump = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        if not processes.wait_until(lambda: "listening" in log.read_text(), timeout=10):
            raise SystemExit(f"tcpdump did not start: {log.read_text().strip()}")
        yield
    finally:
        dump.terminate()
        dump.wait(timeout=10)


def tcp_payloads(file: Path) -> Iterator[tuple[float, tuple[int, int], bytes]]:
    """Each TCP segment with a payload in a pcap of the loopback (Ethernet framing, IPv4):
    its time, (source port, destination port) and payload."""
    data = file.read_bytes()
    if int.from_bytes(data[20:24], "little") != ETHERNET:
        raise SystemExit(f"{file}: not a capture of the loopback with Ethernet framing")
    magic = int.from_bytes(data[:4], "little")
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6  # nanosecond or microsecond timestamps
    at = 24
    while at + 16 <= len(data):
        seconds, fraction, length = (int.from_bytes(data[at + i : at + i + 4], "little")
                                     for i in (0, 4, 8))  # fmt: skip
        frame = data[at + 16 : at + 16 + length]
        at += 16 + length
        if frame[12:14] != b"\x08\x00":  # not IPv4
            continue
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        tcp = ip[header:total]
        if len(tcp) < 20:  # a segment cut short (the capture ended in it)
            continue
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if payload:
            ports = (int.from_bytes(tcp[0:2], "big"), int.from_bytes(tcp[2:4], "big"))
            yield seconds + fraction * scale, ports, payload


def exchanges(file: Path, servers: set[int]) -> dict[str, Exchange]:
    """The exchanges with the servers on these ports, by the referee's ID their answers carry:
    when the request's first segment left, and when the segment with its first token did (a
    chunk with a choice, not a chat stream's role chunk, as the lab's TTFT counts it)."""
    talks: dict[tuple[int, int], list[Exchange]] = {}  # by (server, client) port: in order
    answering: dict[tuple[int, int], int] = {}  # by (server, client) port: answers begun
    for when, (source, destination), payload in tcp_payloads(file):
        if destination in servers and payload.startswith(b"POST "):
            talks.setdefault((destination, source), []).append(Exchange(when))
            continue
        talk = (source, destination)
        if talk not in talks:
            continue
        if payload.startswith(b"HTTP/1.") and answering.get(talk, 0) < len(talks[talk]):
            # (an answer to a request sent before the capture began is not counted)
            answering[talk] = answering.get(talk, 0) + 1
            found = ID_HEADER.search(payload)
            exchange = talks[talk][answering[talk] - 1]
            exchange.id = found.group(1).decode("latin-1") if found else ""
        if answering.get(talk):  # the headers' segment may carry the first events
            exchange = talks[talk][answering[talk] - 1]
            if exchange.first_token is None and carries_token(payload):
                exchange.first_token = when
    return {e.id: e for talk in talks.values() for e in talk if e.id}


def carries_token(payload: bytes) -> bool:
    for event in EVENT.findall(payload):
        with contextlib.suppress(ValueError):
            for choice in json.loads(event).get("choices") or []:
                if "role" not in (choice.get("delta") or {}):
                    return True
    return False


def hops(requests: Path, capture: Path, endpoints: Endpoints) -> dict[str, list[float]]:
    """For each of the lab's requests seen on both hops and by the referee, the milliseconds of
    its TTFT spent in each hop (HOPS, in order; they add up to the lab's TTFT)."""
    router = exchanges(capture, {urlsplit(endpoints.router).port or 80})
    engine = exchanges(capture, {urlsplit(each.url).port or 80 for each in endpoints.engines})
    judged = {r["id"]: r for r in referee_records()}
    spent: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for _, row in files.csv_rows(requests, "requests.csv"):
        key = row.get("referee_id", "")
        front, back, ref = router.get(key), engine.get(key), judged.get(key)
        if not (row.get("ttft_ms") and front and back and ref and ref["first_chunk_ms"]):
            continue
        if front.first_token is None or back.first_token is None:
            continue
        start = float(row["start_time"])
        chunk = ref["arrived"] + ref["first_chunk_ms"] / 1000
        times = (start, front.sent, back.sent, ref["arrived"], chunk, back.first_token,
                 front.first_token, start + float(row["ttft_ms"]) / 1000)  # fmt: skip
        for hop, (a, b) in zip(HOPS, itertools.pairwise(times), strict=True):
            spent[hop].append((b - a) * 1000)
    return spent


def wire_table(spent: dict[str, list[float]], title: str) -> Table:
    table = Table(title=title)
    for column in ("hop", "median ms", "p90 ms", "mean ms", "share of mean TTFT"):
        table.add_column(column, justify="right")
    total = sum(statistics.fmean(values) for values in spent.values() if values)
    for hop, values in spent.items():
        if len(values) < 10:
            table.add_row(hop, "-", "-", "-", "-")
            continue
        mean = statistics.fmean(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        table.add_row(hop, f"{statistics.median(values):.2f}", f"{p90:.2f}", f"{mean:.2f}",
                      f"{mean / total:.0%}")  # fmt: skip
    return table


def on_the_wire(args: argparse.Namespace, work: Path) -> None:
    """The lab's throughput scenario at each concurrency with tcpdump on the loopback: each of
    its requests' TTFT split into hops, by the referee ID its answer carries."""
    lengths = Lengths(args.prompt, args.output)
    with referee_stack(work) as endpoints:
        urls = (endpoints.router, *(engine.url for engine in endpoints.engines))
        ports = [urlsplit(url).port or 80 for url in urls]
        for concurrency in args.concurrency:
            place = work / f"c{concurrency}-wire"
            run_locust(endpoints, place / "warm-up", concurrency, 5, lengths)
            capture = place / "lo.pcap"
            with captured(capture, ports):
                run_locust(endpoints, place / "lab", concurrency, args.duration, lengths)
            spent = hops(place / "lab" / "requests.csv", capture, endpoints)
            title = (f"the lab's TTFT by hop, concurrency {concurrency}, {lengths.prompt} in / "
                     f"{lengths.output} out, {len(spent[HOPS[0]])} requests")  # fmt: skip
            out.print(wire_table(spent, title))


# --- the series as results folders, compared paired ----------------------------------------

COMPARED = (("referee-lab", "lab"), ("referee-vllm", "vllm"), ("vllm", "lab"))


def compare_series(series: refereed.Series) -> None:
    """compare --paired of each client against the referee, and of the lab against vllm bench
    serve (A first, then B), printed as compare prints them."""
    for a, b in COMPARED:
        if not (series.place / a).is_dir() or not (series.place / b).is_dir():
            out.print(f"{a} against {b}: not compared, {series.place} has no turns of one")
            continue
        out.print(f"[bold]compare --paired {a} {b}[/bold] (A: {a}, B: {b})")
        report = series.place / f"compare-{a}-vs-{b}"
        command = [sys.executable, "-m", "lab", "compare", "--paired",
                   str(series.place / a), str(series.place / b), "--out", str(report)]  # fmt: skip
        subprocess.run(command, check=False)


def against_sim_series(args: argparse.Namespace, work: Path) -> None:
    """The two clients turn about against one simulated engine on the known timeline, as the
    stack's pairs, and the series compared paired."""
    lengths = Lengths(args.prompt, args.output)
    log = work / "engine.jsonl"
    with sim_behind_router(log) as endpoints:
        for concurrency in args.concurrency:
            request_s = (SIM_TTFT_MS + (lengths.output - 1) * SIM_TPOT_MS) / 1000
            n = max(20, int(concurrency * args.duration / request_s))
            series = refereed.Series(
                work / f"c{concurrency}-series", partial(sendlog.as_referee, log)
            )
            for pair in range(args.pairs):
                place = work / f"c{concurrency}-pair{pair}"
                for client in ("lab", "vllm") if pair % 2 == 0 else ("vllm", "lab"):
                    judged(
                        partial(one_run, client, endpoints, place, concurrency, args, n),
                        series, client, place,
                    )  # fmt: skip
            compare_series(series)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--against", choices=("sim", "sim-series", "stack", "wire"), default="sim"
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, nargs="+", default=None)
    parser.add_argument("--duration", type=int, default=20, help="seconds per Locust run")
    parser.add_argument(
        "--pairs", type=int, default=4, help="interleaved pairs at most (stack: fewer once the "
        "paired intervals resolve --resolve)"
    )  # fmt: skip
    parser.add_argument(
        "--resolve", type=float, default=0.10, help="stack: stop once the lab's TTFT p50 against "
        "the referee's and vllm bench serve's has a 90%% interval within this (0.10: ±10%%)"
    )  # fmt: skip
    parser.add_argument(
        "--clients", nargs="+", choices=("lab", "vllm", "together"),
        default=["lab", "vllm", "together"], help="stack: the clients of each pair",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs of each concurrency (sim)")
    parser.add_argument("--prompt", type=int, default=Lengths.prompt, help="prompt tokens")
    parser.add_argument("--output", type=int, default=Lengths.output, help="output tokens")
    args = parser.parse_args()
    if not {"lab", "vllm"} <= set(args.clients):
        parser.error("--clients: a pair needs lab and vllm")
    args.concurrency = args.concurrency or ([1, 2, 8, 32] if args.against == "sim" else [2])
    if args.against == "wire" and not shutil.which("tcpdump"):
        parser.error("--against wire: needs tcpdump (Debian's package), run as root")
    model.ensure_tiny()
    work = Path(tempfile.mkdtemp(prefix="lab-vs-vllm-"))
    began = time.monotonic()
    run = {"sim": against_sim, "sim-series": against_sim_series, "stack": against_stack,
           "wire": on_the_wire}  # fmt: skip
    run[args.against](args, work)
    out.print(f"done in {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
