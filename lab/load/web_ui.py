"""`python -m lab ui` / `nox -s ui`: Locust's web UI on the lab's scenarios, against the stack
that is up, or against one brought up for it (and stopped with it on Ctrl-C)."""

from __future__ import annotations

import subprocess
import sys

from lab.config.profile import Profile
from lab.console import note, ok, say
from lab.load import levels, lifecycle, locust
from lab.paths import asset
from lab.stack import processes, state
from lab.stack.endpoints import Endpoints

LOCUSTFILES = ("routing.py", "throughput.py")


def command(endpoints: Endpoints, port: int, words: str) -> list[str]:
    files = ",".join(str(asset("locustfiles", name)) for name in LOCUSTFILES)
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        files,
        "--class-picker",  # the UI offers both scenarios' users
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(port),
        "--host",
        endpoints.router,
        "--lab-model",
        endpoints.model,
        *locust.routing_options(endpoints),
        *locust.user_options(endpoints, words),
    ]


def serve(profile: Profile, requested_platform: str | None, port: int) -> None:
    current = state.load()
    owned = current is None
    if current is None:
        _, current = lifecycle.up(profile, requested_platform)
    else:
        note(f"using the lab that is up ({current.profile['name']} on {current.platform})")
    try:
        web_port = processes.free_port(port)
        if web_port != port:
            note(f"port {port} is taken: the web UI uses {web_port} instead")
        ok(f"Locust web UI at http://127.0.0.1:{web_port} (Ctrl-C stops it)")
        locust = subprocess.Popen(
            command(current.require_endpoints(), web_port, levels.word_list(profile))
        )
        try:
            locust.wait()
        except KeyboardInterrupt:
            locust.terminate()
            locust.wait(timeout=30)
            raise
    finally:
        if owned:
            say("🧹 stopping the stack this UI brought up")
            lifecycle.down()
