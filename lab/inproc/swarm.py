"""The lab's Locust processes as one load generator: a process alone, or Locust's master with
its workers (`--master`/`--worker`, lab.load.locust starts them).

Workers send what they measure (one row per request, their CPU use) to the master, which alone
writes the samples file and the CPU log: one requests.csv with unique request ids, whether the
workers run beside the master or in pods. The master also ends the run: it stops the workers
first, so that requests in flight drain and every count reaches it, then quits.

Importing this module imports Locust, which monkey-patches the standard library with gevent:
import it from the locustfiles' modules only.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import time
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, Runner, WorkerRunner

from lab.inproc.samples import ABORT, CPU_COLUMNS, SAMPLE_COLUMNS

SAMPLE, CPU, DONE = "lab_sample", "lab_cpu", "lab_done"  # messages from workers to the master
CPU_INTERVAL = 1.0  # seconds between two samples of a process's CPU time
SCHEDSTAT = Path("/proc/self/schedstat")  # Linux: time on a CPU, time waiting for one (ns)
BACKGROUND: dict[str, Any] = {}  # greenlets a process runs beside its users, by job
DONE_WORKERS: set[str] = set()  # workers whose users have all finished their work


HIDDEN = {"include_in_web_ui": False}  # the lab's plumbing, not a parameter of the load


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    """Set by the lab, hidden from the web UI's custom parameters (Locust honours
    include_in_web_ui on its parser, not on an argument group)."""
    parser.add_argument(
        "--lab-samples", default="", help="CSV file for one raw row per request", **HIDDEN
    )
    parser.add_argument("--lab-cpu", default="", help="CSV file of the processes' CPU", **HIDDEN)
    parser.add_argument(
        "--lab-run-time", type=float, default=0.0, help="seconds of load (0: until stopped)",
        **HIDDEN,
    )  # fmt: skip
    parser.add_argument(
        "--lab-stop-file",
        default="",
        help="end the run (as its run time would) once this exists",
        **HIDDEN,
    )


def parsed(environment: Environment) -> argparse.Namespace:
    """Locust's options: always parsed in a Locust process started from its command line."""
    assert environment.parsed_options is not None
    return environment.parsed_options


def runner(environment: Environment) -> Runner:
    """Locust's runner: made before any event the lab listens to fires."""
    assert environment.runner is not None
    return environment.runner


def worker(environment: Environment) -> WorkerRunner | None:
    """This process's runner, when the process is a worker."""
    return environment.runner if isinstance(environment.runner, WorkerRunner) else None


def is_worker(environment: Environment) -> bool:
    return worker(environment) is not None


def is_master(environment: Environment) -> bool:
    return isinstance(environment.runner, MasterRunner)


def process_name(environment: Environment) -> str:
    """How samples and CPU rows name this process: locust (alone), master, worker-N."""
    if mine := worker(environment):
        return f"worker-{mine.worker_index}"
    return "master" if is_master(environment) else "locust"


def share(environment: Environment) -> tuple[int, int]:
    """(index, count): which of how many load-making processes this one is."""
    if mine := worker(environment):
        return mine.worker_index, parsed(environment).expect_workers
    return 0, 1


def user_number(environment: Environment, local: int) -> int:
    """A user number unique over all processes: the local count interleaved by worker."""
    index, count = share(environment)
    return local * count + index


class CsvLog:
    """Rows appended to a CSV file and flushed as they come: a crash keeps what was measured.
    With an id column, rows are numbered here, in the one process that writes."""

    def __init__(self, columns: tuple[str, ...], id_column: str = "") -> None:
        self.columns = columns
        self.id_column = id_column
        self.file: Any = None
        self.writer: Any = None
        self.ids = itertools.count()

    def open(self, path: str) -> None:
        if not path or self.file:
            return
        new = not Path(path).exists() or Path(path).stat().st_size == 0
        if self.id_column and not new:
            # Levels append to their scenario's file: ids go on from its last row.
            with open(path, newline="") as earlier:
                self.ids = itertools.count(sum(1 for _ in csv.DictReader(earlier)))
        self.file = open(path, "a", newline="")  # noqa: SIM115 - kept open for the whole run
        self.writer = csv.DictWriter(self.file, fieldnames=self.columns)
        if new:
            self.writer.writeheader()

    def write(self, *rows: dict[str, Any]) -> None:
        if self.writer is None:
            return
        if self.id_column:
            rows = tuple({self.id_column: next(self.ids), **row} for row in rows)
        self.writer.writerows(rows)
        self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()
            self.file = None
            self.writer = None


SAMPLES = CsvLog(SAMPLE_COLUMNS, id_column="request_id")
CPU_LOG = CsvLog(CPU_COLUMNS)
LOGS = {SAMPLE: SAMPLES, CPU: CPU_LOG}


def keep(environment: Environment, kind: str, row: dict[str, Any]) -> None:
    """Write a row (SAMPLE or CPU) where this process writes, or queue it for the master."""
    if is_worker(environment):
        OUTBOX[kind].append(row)
        if len(OUTBOX[kind]) >= SEND_ROWS:
            send(environment, kind)
    else:
        LOGS[kind].write(row)


# A worker sends its rows in batches: a message per request cost the master more than the
# rows themselves (a master and 2 workers spent 1.2-1.7 ms of CPU per 1,000 chunks on it).
OUTBOX: dict[str, list[dict[str, Any]]] = {SAMPLE: [], CPU: []}
SEND_ROWS = 50  # rows of a kind that go at once
SEND_EVERY = 0.5  # seconds rows may wait (a worker that dies loses no more)


def send(environment: Environment, kind: str) -> None:
    rows, OUTBOX[kind] = OUTBOX[kind], []
    if rows:
        runner(environment).send_message(kind, rows)


def _send_regularly(environment: Environment) -> None:
    while True:
        gevent.sleep(SEND_EVERY)
        for kind in OUTBOX:
            send(environment, kind)


@events.init.add_listener
def _listen_to_workers(environment: Environment, **_: Any) -> None:
    if not is_master(environment):
        return
    master = runner(environment)
    master.register_message(SAMPLE, lambda msg, **_: SAMPLES.write(*msg.data))
    master.register_message(CPU, lambda msg, **_: CPU_LOG.write(*msg.data))
    master.register_message(DONE, lambda msg, **_: _worker_done(environment, msg.node_id))


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    options = parsed(environment)
    if not is_worker(environment):
        SAMPLES.open(options.lab_samples)
        CPU_LOG.open(options.lab_cpu)
        if options.lab_run_time:
            gevent.spawn_later(options.lab_run_time, finish, environment)
        if options.lab_stop_file:
            gevent.spawn(_finish_when_present, environment, Path(options.lab_stop_file))
    BACKGROUND["cpu"] = gevent.spawn(_watch_cpu, environment)
    if is_worker(environment):
        BACKGROUND["sender"] = gevent.spawn(_send_regularly, environment)


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    if watch := BACKGROUND.pop("cpu", None):
        watch.kill()
        keep(environment, CPU, cpu_row(environment))  # the end of the run, for the last window
    if mine := worker(environment):
        if sender := BACKGROUND.pop("sender", None):
            sender.kill()
        for kind in OUTBOX:
            send(environment, kind)
        # This worker's last figures, now, ahead of its "stopped" (a report every 3 s could
        # come after the master quit): the master has every count once all workers stopped.
        mine._send_stats()


@events.quitting.add_listener
def _close(environment: Environment, **_: Any) -> None:
    for log in LOGS.values():
        log.close()


def cpu_row(environment: Environment) -> dict[str, Any]:
    """This process's CPU time so far, and the time it spent runnable but waiting for a CPU
    (where Linux tells it): a process starved by others' work times its chunks late too."""
    used = psutil.Process().cpu_times()
    waited = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        waited = f"{int(SCHEDSTAT.read_text().split()[1]) / 1e9:.3f}"
    return {
        "time": f"{time.time():.3f}",
        "process": process_name(environment),
        "cpu_s": f"{used.user + used.system:.3f}",
        "wait_s": waited,
    }


def _watch_cpu(environment: Environment) -> None:
    while True:
        keep(environment, CPU, cpu_row(environment))
        gevent.sleep(CPU_INTERVAL)


def finish(environment: Environment) -> None:
    """End the run as its run time does. A master first stops its workers and waits until
    their users are done and they said so, their last figures sent ahead (Locust's quit alone
    would leave them draining after it exited, their last figures lost), then quits."""
    if is_master(environment):
        runner(environment).stop()
    runner(environment).quit()


def _finish_when_present(environment: Environment, path: Path) -> None:
    """The lab ends a run whose length it learns only as it goes (resilience scenarios) by
    creating a file: no signal, which a process started in the background may be deaf to.
    A file that says ABORT (Ctrl-C) ends it at once: no user finishes its request, and a
    master waits for no worker (the lab has ended them)."""
    while not path.exists():
        gevent.sleep(0.2)
    if path.read_text().strip() == ABORT:
        environment.stop_timeout = 0
        runner(environment).quit()
        return
    finish(environment)


def all_done(environment: Environment) -> None:
    """Every user of this process has finished its work (a routing conversation): the run ends
    once every process says so. The web UI stays open for the next run."""
    if is_worker(environment):
        runner(environment).send_message(DONE, None)
    elif parsed(environment).headless:
        gevent.spawn(finish, environment)
    else:
        gevent.spawn(runner(environment).stop)


def _worker_done(environment: Environment, worker: str) -> None:
    DONE_WORKERS.add(worker)
    if len(DONE_WORKERS) >= parsed(environment).expect_workers:
        gevent.spawn(finish, environment)
