"""Scripted HTTP answers on loopback, for targets that answer wrongly (an HTML page, 401, a
model list without the model...): each path answers what it was given, everything else 404.
Bound at once to a port the system picks, served from a daemon thread for the test process."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, str, str]  # status, content type, body


def answering(routes: dict[str, Answer]) -> str:
    """A server answering `routes` (path without its query: answer); its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, kind, body = routes.get(self.path.split("?")[0], (404, "text/plain", "no"))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def models(*names: str) -> Answer:
    """/v1/models as vLLM lists what it serves."""
    listed = [{"id": name, "object": "model"} for name in names]
    return 200, "application/json", json.dumps({"object": "list", "data": listed})


def page(status: int, body: str = "", kind: str = "text/plain") -> Answer:
    return status, kind, body


METRICS = page(200, "vllm:request_success_total 1\n", "text/plain; version=0.0.4")
NO_SERIES = page(200, json.dumps({"status": "success", "data": {"result": []}}), "application/json")
