"""`python -m lab ui` / `nox -s ui`: Locust's web UI on the lab's scenarios, against the stack
that is up, or against one brought up for it (and stopped with it on Ctrl-C). Each test started
in the UI leaves a results folder in `base` (lab.load.web_runs, inside Locust's process)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from lab import platforms
from lab.config import profile as profiles
from lab.config.profile import Profile
from lab.config.slo import Slo
from lab.config.timeouts import Timeouts
from lab.console import note, ok, say
from lab.load import levels, lifecycle, locust, web_figures
from lab.paths import asset
from lab.results import manifest as manifests
from lab.stack import processes, state
from lab.stack.endpoints import Endpoints

LOCUSTFILES = ("routing.py", "throughput.py", "web_ui.py")


def command(
    endpoints: Endpoints,
    port: int,
    words: str,
    base: Path,
    manifest: Path,
    slo: Slo | None,
    timeouts: Timeouts,
) -> list[str]:
    """Locust's web UI on the stack. Each test is judged against the profile's SLO as a headless
    level is (`slo`: its requests' slo_ok), and ends as one does: requests in flight when it
    stops are waited for (--stop-timeout) and kept, marked drained. Routing users converse for
    the test's length, a new conversation when one ends (--lab-keep-conversing): a test in the
    UI ends when its user stops it, not when the first conversations run out."""
    files = ",".join(str(asset("locustfiles", name)) for name in LOCUSTFILES)
    engines = ",".join(f"{engine.name}={engine.url}" for engine in endpoints.engines)
    judged = ["--lab-slo", slo.option()] if slo is not None else []
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
        "--stop-timeout",
        str(locust.STOP_TIMEOUT),
        "--lab-keep-conversing",
        *judged,
        "--lab-model",
        endpoints.model,
        *locust.routing_options(endpoints),
        *locust.user_options(endpoints, words),
        "--lab-results",
        str(base),  # Locust runs in this directory: folders are said as the user named them
        "--lab-run-manifest",
        str(manifest),
        "--lab-engine-urls",
        engines,
        *timeouts.options(),  # each request within the profile's load.timeouts
    ]


def serve(profile: Profile, requested_platform: str | None, port: int, base: Path) -> None:
    current = state.load()
    owned = current is None
    if current is None:
        _, current = lifecycle.up(profile, requested_platform)
    else:
        # The runs describe the stack the UI drives, not the profile named on the command line.
        origin = f"{state.path()}: profile"
        profile = profiles.recorded(current.profile, current.profile_source, origin)
        note(f"using the lab that is up ({profile.name} on {current.platform})")
    try:
        endpoints = current.require_endpoints()
        web_port = processes.free_port(port)
        if web_port != port:
            note(f"port {port} is taken: the web UI uses {web_port} instead")
        with tempfile.TemporaryDirectory(prefix="lab-ui-") as scratch:
            images = platforms.images(current.platform, profile)
            manifest = manifests.start(profile, current, images)
            template = Path(scratch) / "manifest.json"
            template.write_text(json.dumps(manifest.to_json()))
            say(f"🧭 the web UI drives {web_figures.stack_line(manifest)}")
            url = f"http://127.0.0.1:{web_port}"
            ok(f"Locust web UI at {url} (Ctrl-C stops it); the lab's figures in its LLM tab")
            say(f"📈 charts over time at {url}/llm; each test's results folder goes to {base}/")
            words = levels.word_list(profile)
            _run(
                command(
                    endpoints, web_port, words, base, template, profile.slo, profile.load.timeouts
                )
            )
    finally:
        if owned:
            say("🧹 stopping the stack this UI brought up")
            lifecycle.down()


def _run(argv: list[str]) -> None:
    """Locust until it ends, or until Ctrl-C: then it finishes the test it was running (its
    results folder included) before it exits."""
    locust = subprocess.Popen(argv)
    try:
        locust.wait()
    except KeyboardInterrupt:
        locust.terminate()
        try:
            locust.wait(timeout=90)
        except subprocess.TimeoutExpired:
            note("Locust did not finish its test in 90 s: killed")
            locust.kill()
            locust.wait()
        raise
