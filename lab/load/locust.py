"""Running Locust: the command lines of one headless level (a process alone, or Locust's master
and its workers over loopback), starting them, and stopping them so that they still write every
file."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lab.config.kinds import ReplayScenario, RoutingScenario, Scenario
from lab.config.kinds.plan import Level
from lab.inproc.samples import ABORT, CPU_FILE
from lab.paths import asset
from lab.platforms import RemoteWorkers
from lab.stack import processes
from lab.stack.endpoints import Endpoints

STOP_TIMEOUT = 30  # seconds Locust lets in-flight requests finish at the end of a level
ABORT_GRACE = 2.0  # seconds Ctrl-C gives each process to end before it is ended harder
MASTER_PORT = 5557  # Locust's own default; the next free one when taken
WORKERS_WAIT = 120  # seconds a master waits for its workers to connect before it gives up


def command(
    level: Level,
    scenario: Scenario,
    endpoints: Endpoints,
    folder: Path,
    words: str,
    workers: int = 0,
    port: int = MASTER_PORT,
    remote: RemoteWorkers | None = None,
) -> list[str]:
    """The Locust process of a level: alone, or with `workers` the master they connect to on
    `port` (it makes no load itself, and alone writes every file): on loopback, or on every
    interface for remote workers, whose router it hands them."""
    prefix = folder / level.name / "locust"
    command = [
        *_locust(level),
        "--headless",
        "--users",
        str(level.users),
        "--spawn-rate",
        f"{level.spawn_rate:g}",
        # The lab ends the run itself (lab.inproc.swarm): a master then lets its workers drain.
        "--lab-run-time",
        str(level.run_time),
        "--stop-timeout",
        str(STOP_TIMEOUT),
        "--host",
        remote.router if remote else endpoints.router,
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
        "--lab-samples",
        str(folder / "requests.csv"),
        "--lab-cpu",
        str(folder / level.name / CPU_FILE),
        *_lab_options(level, scenario, endpoints, words),
    ]
    if workers:
        bind = "0.0.0.0" if remote else "127.0.0.1"
        command += [
            "--master",
            *("--master-bind-host", bind, "--master-bind-port", str(port)),
            *("--expect-workers", str(workers)),
            *("--expect-workers-max-wait", str(WORKERS_WAIT)),
        ]
    return command


def pod_worker_command(
    level: Level, scenario: Scenario, endpoints: Endpoints, master: str, port: int
) -> list[str]:
    """A worker in a pod whose image holds the kit in its working folder. The master sends it
    the prompt words; a tokenizer on this machine is of no use there."""
    return [
        *("python", "-m", "locust", "-f", f"locustfiles/{level.locustfile}"),
        *("--loglevel", "WARNING", "--worker", "--master-host", master, "--master-port", str(port)),
        *_lab_options(level, scenario, replace(endpoints, tokenizer=""), words=""),
    ]


def worker_command(
    level: Level,
    scenario: Scenario,
    endpoints: Endpoints,
    words: str,
    master: str = "127.0.0.1",
    port: int = MASTER_PORT,
) -> list[str]:
    """A worker of a level's master. The master sends it its options with its users; those
    an init hook reads (the word list, the tokenizer) it is given here too."""
    return [
        *_locust(level),
        "--worker",
        *("--master-host", master, "--master-port", str(port)),
        *_lab_options(level, scenario, endpoints, words),
    ]


def _locust(level: Level) -> list[str]:
    locustfile = str(asset("locustfiles", level.locustfile))
    return [sys.executable, "-m", "locust", "-f", locustfile, "--loglevel", "WARNING"]


def _lab_options(level: Level, scenario: Scenario, endpoints: Endpoints, words: str) -> list[str]:
    options = [
        *("--lab-model", endpoints.model),
        *("--lab-scenario", scenario.name),
        *("--lab-level", level.name),
        *user_options(endpoints, words),
    ]
    if isinstance(scenario, RoutingScenario):
        options += routing_options(endpoints)
    if isinstance(scenario, ReplayScenario):  # its sessions' header; its prompts are token IDs
        options += ["--lab-session-key", endpoints.session_key]
    if getattr(scenario, "direct", False):  # the router bypassed: the engines in turn
        options += ["--lab-direct", ",".join(engine.url for engine in endpoints.engines)]
    if scenario.slo is not None:  # each request is judged as it is recorded (slo_ok)
        options += ["--lab-slo", scenario.slo.option()]
    for option, value in level.options.items():
        options += [option, value]
    return options


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


@dataclass
class Swarm:
    """The Locust processes of one level, the one that writes the files (alone, or the
    master) first; `end` removes remote workers once the level is over."""

    processes: list[subprocess.Popen] = field(default_factory=list)
    end: Callable[[], None] | None = None

    @property
    def lead(self) -> subprocess.Popen:
        return self.processes[0]

    def wait(self, timeout: float) -> int:
        """The lead's exit code once it ends. Its workers have sent it everything by then, but
        may still sit out Locust's --stop-timeout pause: they are terminated."""
        code = self.lead.wait(timeout=timeout)
        self._end_workers()
        return code

    def _end_workers(self) -> None:
        for worker in self.processes[1:]:
            _end(worker, grace=10, first=worker.terminate)
        if self.end:
            self.end()

    def abort(self, stop_file: Path) -> float:
        """Ctrl-C: load stops at once. Workers are ended outright, the lead told to stop every
        user without letting a request finish (it still writes its files); the seconds until
        none of them runs."""
        began = time.monotonic()
        told = stop_file.with_name(stop_file.name + ".new")
        told.write_text(ABORT)
        told.replace(stop_file)  # whole, so it is never read empty
        for worker in self.processes[1:]:
            _end(worker, grace=ABORT_GRACE, first=worker.kill)
        if self.end:
            self.end()
        _end(self.lead, grace=ABORT_GRACE)
        return time.monotonic() - began

    def stop(self, stop_file: Path) -> None:
        """Ask the lead to end the run (it then writes every file); terminate any process that
        will not."""
        stop_file.touch()
        _end(self.lead, grace=STOP_TIMEOUT + 10)
        self._end_workers()


def start(
    level: Level,
    scenario: Scenario,
    endpoints: Endpoints,
    folder: Path,
    words: str,
    workers: int,
    extra: list[str],
    remote: RemoteWorkers | None = None,
) -> Swarm:
    """Start a level's Locust: one process (workers 0), or a master with `workers` workers on
    this machine, or `remote` ones. Each process logs into the level's folder (locust.log,
    locust-worker-N.log); `extra` options go to the process that writes the files."""
    place = folder / level.name
    port = processes.free_port(MASTER_PORT) if workers else MASTER_PORT
    swarm = Swarm()
    lead = command(level, scenario, endpoints, folder, words, workers, port, remote)
    swarm.processes.append(_spawn([*lead, *extra], place / "locust.log"))
    if remote and workers:
        argv = pod_worker_command(level, scenario, endpoints, remote.master_host, port)
        swarm.end = lambda: remote.stop(level.name)
        try:
            remote.start(level.name, workers, port, argv)
        except BaseException:
            _end(swarm.lead, grace=10, first=swarm.lead.terminate)
            raise
        return swarm
    for index in range(workers):
        argv = worker_command(level, scenario, endpoints, words, port=port)
        swarm.processes.append(_spawn(argv, place / f"locust-worker-{index}.log"))
    return swarm


def _spawn(argv: list[str], log: Path) -> subprocess.Popen:
    """In a session of its own: Ctrl-C at the terminal reaches the lab alone, which then ends
    the level at once (Swarm.abort); Locust's own Ctrl-C would let requests run on."""
    with log.open("w") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _end(process: subprocess.Popen, grace: float, first: Callable[[], None] | None = None) -> None:
    """Wait for a process the lab started to end (after `first`, if given); terminate, then
    kill it, if it will not."""
    for ask in (first or (lambda: None), process.terminate, process.kill):
        ask()
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
