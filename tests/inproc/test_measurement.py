"""Measurement accuracy of the Locust user, end to end: a real Locust process against a scripted
streaming endpoint whose delays are known and whose every write is timestamped.

TTFT as a client sees it includes sending the request (a few ms between two Python processes
on loopback): so the truth each measurement is held to is the server's own timeline, on the
same wall clock as the client's `start_time`; the delays between tokens are held to the script.
The tests held to milliseconds are marked `timing`: beside other pytest-xdist workers on two
cores, one measured 12 ms off its 5 ms bound.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lab.config import model
from lab.inproc import chat_tokens
from lab.paths import asset
from lab.sim import SimOptions, running

TTFT_S = 0.150
GAPS_S = (0.040, 0.020, 0.060, 0.030)
PROMPT_TOKENS = 77
TOLERANCE_MS = 5.0
TIMELINES: list[list[float]] = []  # per request, wall time of each token write
REQUESTS: list[tuple[str, dict]] = []  # per request, its path and body


class Scripted(BaseHTTPRequestHandler):
    """Streams a fixed answer with fixed delays. HTTP/1.1 answers are chunked, as vLLM's are;
    HTTP/1.0 answers end when the connection closes (the harder case for a client)."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        REQUESTS.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("x-lab-engine", "scripted")
        self.send_header("x-lab-request-id", f"referee-{len(REQUESTS)}")  # as the referee's
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        writes: list[float] = []
        TIMELINES.append(writes)
        delays = (TTFT_S, *GAPS_S)
        for index, delay in enumerate(delays):
            time.sleep(delay)
            writes.append(time.time())
            finish = "length" if index == len(delays) - 1 else None  # as vLLM ends a stream
            if self.path == "/v1/completions":
                self.chunk({"choices": [{"text": "tok", "finish_reason": finish}]})
                continue
            if index == 0:  # vLLM opens a chat stream with the role, sent with the first token
                self.chunk({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
            self.chunk({"choices": [{"delta": {"content": "tok"}, "finish_reason": finish}]})
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(GAPS_S) + 1}
        self.chunk({"choices": [], "usage": usage})
        self.send(b"data: [DONE]\n\n")
        if self.chunked:
            self.wfile.write(b"0\r\n\r\n")

    @property
    def chunked(self) -> bool:
        return self.protocol_version == "HTTP/1.1"

    def chunk(self, payload: dict) -> None:
        self.send(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def send(self, data: bytes) -> None:
        if self.chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def scripted(protocol: str) -> Iterator[str]:
    """The scripted endpoint speaking `protocol`, its timelines and requests new."""
    TIMELINES.clear()
    REQUESTS.clear()
    handler = type("Handler", (Scripted,), {"protocol_version": protocol})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def scripted_endpoint(request) -> Iterator[str]:
    with scripted(request.param) as url:
        yield url


@dataclass(frozen=True)
class OneUser:
    folder: Path  # Locust's files and requests.csv
    timelines: list[list[float]]  # TIMELINES of the run


@pytest.fixture(scope="module", params=["HTTP/1.1", "HTTP/1.0"])
def one_user(request, tmp_path_factory) -> OneUser:
    """One Locust user for 3 s against the scripted endpoint, once per protocol: the tests that
    read it share it (each Locust start costs seconds)."""
    folder = tmp_path_factory.mktemp("one-user")
    with scripted(request.param) as url:
        run_locust(url, folder)
        return OneUser(folder, [list(writes) for writes in TIMELINES])


def run_locust(
    host: str, tmp_path, locustfile: str = "throughput.py", run_time: str = "3s", *options: str
) -> None:
    command = [
        sys.executable, "-m", "locust", "-f", str(asset("locustfiles", locustfile)),
        "--headless", "-u", "1", "-r", "1", "-t", run_time, "--stop-timeout", "5",
        "--host", host, "--csv", str(tmp_path / "locust"), "--only-summary",
        "--json-file", str(tmp_path / "locust_stats"),
        "--lab-samples", str(tmp_path / "requests.csv"), "--lab-scenario", "accuracy",
        "--lab-level", "c1", *(options or ("--lab-prompt-tokens", "8", "--lab-output-tokens", "5")),
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=60, capture_output=True)


@pytest.mark.timing
def test_ttft_itl_e2e_within_5_ms_and_tokens_exact(one_user: OneUser) -> None:
    with (one_user.folder / "requests.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) >= 5
    assert len(rows) == len(one_user.timelines)  # one user: requests and timelines in order
    assert len({row["referee_id"] for row in rows}) == len(rows)  # each its own
    assert [row["phase"] for row in rows[:-1]] == ["run"] * (len(rows) - 1)
    for row, writes in zip(rows, one_user.timelines, strict=True):
        if row["phase"] == "drain":
            continue  # finished while Locust was stopping: timed late by Locust's own stop
        assert row["status"] == "ok", row["error"]
        sent = float(row["start_time"])
        # Token arrivals are timed when they land, not when a buffer fills.
        assert abs(float(row["ttft_ms"]) - (writes[0] - sent) * 1000) < TOLERANCE_MS, row
        assert abs(float(row["e2e_ms"]) - (writes[-1] - sent) * 1000) < TOLERANCE_MS, row
        gaps = [float(g) for g in row["itl_ms"].split(";")]
        written = [(b - a) * 1000 for a, b in itertools.pairwise(writes)]
        assert len(gaps) == len(GAPS_S)
        for measured, truth in zip(gaps, written, strict=True):
            assert abs(measured - truth) < TOLERANCE_MS, row
        tpot = (writes[-1] - writes[0]) * 1000 / len(GAPS_S)
        assert abs(float(row["tpot_ms"]) - tpot) < TOLERANCE_MS, row
        assert float(row["ttft_ms"]) >= TTFT_S * 1000  # never earlier than the script allows
        assert int(row["prompt_tokens"]) == PROMPT_TOKENS
        assert int(row["output_tokens"]) == len(GAPS_S) + 1
        assert row["engine"] == "scripted"
        assert row["referee_id"].startswith("referee-")
        assert (row["scenario"], row["level"]) == ("accuracy", "c1")


@pytest.mark.timing
def test_metrics_show_in_locust_stats_without_inflating_the_aggregate(one_user: OneUser) -> None:
    folder = one_user.folder
    with (folder / "requests.csv").open() as file:
        phases = [row["phase"] for row in csv.DictReader(file)]
    # Locust's final figures (its _stats.csv is the last one-second snapshot, not final).
    final = {
        (e["method"], e["name"]): e["num_requests"]
        for e in json.loads((folder / "locust_stats.json").read_text())
    }
    assert final[("POST", "/v1/chat/completions")] == len(phases)
    measured = phases.count("run")  # drained requests stay out of the metric rows
    for name in ("ttft_ms", "tpot_ms", "e2e_ms"):
        assert final[("METRIC", name)] == measured
    assert final[("METRIC", "itl_ms")] == measured * len(GAPS_S)
    with (folder / "locust_stats.csv").open() as file:
        snapshot = {(row["Type"], row["Name"]): row for row in csv.DictReader(file)}
    http = snapshot[("POST", "/v1/chat/completions")]["Request Count"]
    assert snapshot[("", "Aggregated")]["Request Count"] == http  # HTTP requests only
    assert abs(float(snapshot[("METRIC", "ttft_ms")]["Median Response Time"]) - 150) <= 10


@pytest.mark.timing
@pytest.mark.parametrize("scripted_endpoint", ["HTTP/1.1"], indirect=True)
def test_routing_user_sends_its_conversation_as_token_ids(
    engines_installed, scripted_endpoint, tmp_path
) -> None:
    """With --lab-tokenizer every round goes to /v1/completions as the token IDs the model's
    chat template makes of the conversation, each round's prompt extending the last one's (what
    a router matching token prefixes follows), and is measured as a chat request is. The last
    token may differ: the prompt's trailing "assistant: " merges with the answer that follows."""
    folder, _ = model.ensure_tiny()
    run_locust(
        # An upper bound: the user ends the run when its conversation is over.
        scripted_endpoint, tmp_path, "routing.py", "30s",
        "--lab-rounds", "3", "--lab-user-qps", "20", "--lab-system-words", "20",
        "--lab-history-words", "10", "--lab-answer-tokens", "5", "--lab-tokenizer", str(folder),
    )  # fmt: skip
    assert [path for path, _ in REQUESTS] == ["/v1/completions"] * 3
    prompts = [body["prompt"] for _, body in REQUESTS]
    tokenizer = chat_tokens.tokenizer(str(folder))
    assert tokenizer.decode(prompts[0]).startswith("<s>system: ")
    for shorter, longer in itertools.pairwise(prompts):
        assert all(isinstance(token, int) for token in longer)
        assert longer[: len(shorter) - 1] == shorter[:-1] and len(longer) > len(shorter)
        assert tokenizer.decode(longer).endswith("<s>assistant: ")
    with (tmp_path / "requests.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["status"] for row in rows] == ["ok"] * 3
    for row, writes in zip(rows, TIMELINES, strict=True):
        sent = float(row["start_time"])
        assert abs(float(row["ttft_ms"]) - (writes[0] - sent) * 1000) < TOLERANCE_MS, row
        assert int(row["output_tokens"]) == len(GAPS_S) + 1


SLOW_START = """
import time

from locust import events


@events.init.add_listener
def busy(**_):  # blocks, as Locust's own start-up does for seconds on a busy machine
    end = time.perf_counter() + 3
    while time.perf_counter() < end:
        pass
"""


def test_a_level_lasts_its_run_time_however_slow_locust_was_to_start(tmp_path) -> None:
    """gevent's loop keeps a stale time through a start-up that blocks (here an init listener
    that runs before the lab's): Locust's --run-time timer would then end the run that much
    early, with almost nothing sent."""
    slow = tmp_path / "slow_start.py"
    slow.write_text(SLOW_START)
    samples = tmp_path / "requests.csv"
    with running(SimOptions(ttft_ms=20, tpot_ms=10)) as sim:
        locust = [
            sys.executable, "-m", "locust", "-f",
            f"{slow},{asset('locustfiles', 'throughput.py')}", "--headless", "-u", "1",
            "-r", "1", "--run-time", "3s", "--host", sim.url, "--only-summary",
            "--lab-model", "lab:tiny-llama", "--lab-samples", str(samples),
            "--lab-output-tokens", "5",
        ]  # fmt: skip
        subprocess.run(locust, capture_output=True, timeout=120, check=True)
    with samples.open(newline="") as file:
        starts = [float(r["start_time"]) for r in csv.DictReader(file)]
    assert starts[-1] - starts[0] > 2.5, starts
