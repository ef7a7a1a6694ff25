"""The web UI (`python -m lab ui`) over a stack of scripted engines behind the real vllm-router:
no vLLM needed. Each scripted engine streams a fixed answer with fixed delays, says who it is
(x-lab-engine) and counts what it served in the vllm: counters the lab reads, a prompt's first
half counted as prefix-cache hits."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from lab.config import profile
from lab.platforms.local import platform as local
from lab.stack import metrics, processes, state
from lab.stack.endpoints import Endpoints, Engine
from lab.stack.state import State

TTFT_S = 0.03
GAP_S = 0.005
PROMPT_TOKENS = 40


class ScriptedEngine(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.lock = threading.Lock()
        self.counters = dict.fromkeys(metrics.ENGINE_COUNTERS, 0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def served(self, output_tokens: int) -> None:
        with self.lock:
            self.counters[metrics.SERVED] += 1
            self.counters[metrics.PROMPT_TOKENS] += PROMPT_TOKENS
            self.counters[metrics.GENERATION_TOKENS] += output_tokens
            self.counters[metrics.PREFIX_QUERIES] += PROMPT_TOKENS
            self.counters[metrics.PREFIX_HITS] += PROMPT_TOKENS // 2


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedEngine

    def do_GET(self) -> None:
        if self.path == "/metrics":
            with self.server.lock:
                lines = [f"# TYPE {n.removesuffix('_total')} counter\n{n} {v}\n"
                         for n, v in self.server.counters.items()]  # fmt: skip
            body = "".join(lines).encode()
        elif self.path == "/v1/models":
            body = json.dumps({"object": "list", "data": [{"id": "tiny-llama"}]}).encode()
        else:
            body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tokens = int(request.get("max_tokens", 8))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("x-lab-engine", self.server.name)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        time.sleep(TTFT_S)
        for n in range(tokens):
            if n:
                time.sleep(GAP_S)
            self._event({"choices": [{"delta": {"content": "tok"}, "finish_reason": None}]})
        self._event({"choices": [], "usage": {"prompt_tokens": PROMPT_TOKENS,
                                              "completion_tokens": tokens}})  # fmt: skip
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.server.served(tokens)

    def _event(self, payload: dict) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def scripted_stack(state_dir: Path, engines: int = 2) -> Iterator[State]:
    """Scripted engines behind the real vllm-router (round-robin), saved as the lab that is up
    in `state_dir`; the cpu profile describes it."""
    servers = [ScriptedEngine(f"engine-{n}") for n in range(engines)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    lab = profile.load("cpu")
    port, metrics_port = processes.free_port(31080), processes.free_port(31580)
    router = processes.spawn(
        "router",
        local.router_command(lab, [s.url for s in servers], port, metrics_port),
        state_dir / "router.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert processes.wait_until(lambda: _answers(f"{url}/health"), 30), processes.tail(
            router.log
        )
        current = State(
            platform="local",
            profile=lab.resolved,
            profile_source=lab.source,
            endpoints=Endpoints(
                router=url,
                engines=tuple(Engine(s.name, s.url) for s in servers),
                model="tiny-llama",
                routing=lab.router.routing,
                session_key=lab.router.session_key,
            ),
        )
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / state.path().name).write_text(json.dumps(current.to_json()))
        yield current
    finally:
        processes.stop(router)
        for server in servers:
            server.shutdown()


@contextlib.contextmanager
def web_ui(state_dir: Path, results: Path) -> Iterator[tuple[str, list[str]]]:
    """`python -m lab ui` on the lab that is up in `state_dir`: its URL, and (once it has
    ended, on leaving) its output lines."""
    port = processes.free_port(8089)
    ui = subprocess.Popen(
        [sys.executable, "-m", "lab", "ui", "--web-port", str(port), "--out", str(results)],
        env={**os.environ, "LAB_STATE_DIR": str(state_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        assert processes.wait_until(lambda: _answers(url), timeout=60), "web UI did not answer"
        yield url, output
    finally:
        ui.send_signal(signal.SIGTERM)  # as Ctrl-C: the lab stops Locust, which finishes
        out, _ = ui.communicate(timeout=120)
        output += out.splitlines()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
