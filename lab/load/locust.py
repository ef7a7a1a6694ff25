"""Running Locust: the command line of one headless level, and stopping it so that it still
writes every file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lab.config.profile import RoutingScenario, Scenario
from lab.load.levels import Level
from lab.paths import asset
from lab.stack.endpoints import Endpoints

STOP_TIMEOUT = 30  # seconds Locust lets in-flight requests finish at the end of a level


def command(
    level: Level, scenario: Scenario, endpoints: Endpoints, folder: Path, words: str
) -> list[str]:
    prefix = folder / level.name / "locust"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(asset("locustfiles", level.locustfile)),
        "--headless",
        "--users",
        str(level.users),
        "--spawn-rate",
        f"{level.spawn_rate:g}",
        "--run-time",
        f"{level.run_time}s",
        "--stop-timeout",
        str(STOP_TIMEOUT),
        "--host",
        endpoints.router,
        "--csv",
        str(prefix),
        "--csv-full-history",
        # Locust's _stats.csv is its last one-second snapshot; the JSON is written at the end.
        "--json-file",
        f"{prefix}_stats",
        "--html",
        f"{prefix}.html",
        "--only-summary",
        "--exit-code-on-error",
        "0",  # failed requests are results, not a failed run
        "--loglevel",
        "WARNING",
        "--lab-model",
        endpoints.model,
        "--lab-samples",
        str(folder / "requests.csv"),
        "--lab-scenario",
        scenario.name,
        "--lab-level",
        level.name,
        *user_options(endpoints, words),
    ]
    if isinstance(scenario, RoutingScenario):
        command += routing_options(endpoints)
    if getattr(scenario, "direct", False):  # the router bypassed: the engines in turn
        command += ["--lab-direct", ",".join(engine.url for engine in endpoints.engines)]
    if scenario.slo is not None:  # each request is judged as it is recorded (slo_ok)
        command += ["--lab-slo", scenario.slo.option()]
    for option, value in level.options.items():
        command += [option, value]
    return command


def user_options(endpoints: Endpoints, words: str) -> list[str]:
    """Options of the lab's Locust user wherever it runs: the prompt words of the model's
    vocabulary (when it has such a list) and the variable holding the API key (never the key)."""
    options = ["--lab-words", words] if words else []
    if endpoints.api_key_env:
        options += ["--lab-api-key-env", endpoints.api_key_env]
    return options


def routing_options(endpoints: Endpoints) -> list[str]:
    """Options of the routing user: the session header, and the tokenizer to send token IDs
    with where the router routes on them."""
    options = ["--lab-session-key", endpoints.session_key]
    if endpoints.tokenizer:
        options += ["--lab-tokenizer", endpoints.tokenizer]
    return options


def stop(locust: subprocess.Popen, stop_file: Path) -> None:
    """Ask Locust to end its run (it then writes every file); terminate it if it will not."""
    stop_file.touch()
    for ask in (lambda: None, locust.terminate, locust.kill):
        ask()
        try:
            locust.wait(timeout=STOP_TIMEOUT + 10)
            return
        except subprocess.TimeoutExpired:
            continue
