"""Running a simulated engine as its own process, for tests and benchmarks: spawn
`python -m lab.sim --port 0`, read the port it picked from its first line of output (so
parallel runs never collide), wait for /health, and stop it with SIGTERM on the way out.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import lab
from lab.sim.options import SimOptions

READY_PREFIX = "listening on "


class SimStartError(RuntimeError):
    """The simulated engine did not come up; the message holds its output."""


@dataclass(frozen=True)
class SimEngine:
    url: str
    name: str
    pid: int
    port: int
    startup_seconds: float  # spawn to /health answering

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"


def command(options: SimOptions, port: int = 0) -> list[str]:
    return [sys.executable, "-m", "lab.sim", *options.argv(), "--port", str(port)]


@contextlib.contextmanager
def running(
    options: SimOptions | None = None,
    port: int = 0,
    timeout: float = 15.0,
    log: str | Path | None = None,
) -> Iterator[SimEngine]:
    """A simulated engine up for the duration of the block. Its stderr goes to `log` when
    given (else a temporary file, shown if it fails to start)."""
    options = options or SimOptions()
    started = time.monotonic()
    with _stderr(log) as err:
        proc = subprocess.Popen(
            command(options, port),
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_env(),
        )
        try:
            url = _wait_ready(proc, err, started + timeout)
            yield SimEngine(
                url=url,
                name=options.engine_name,
                pid=proc.pid,
                port=int(url.rsplit(":", 1)[1]),
                startup_seconds=time.monotonic() - started,
            )
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[str], grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def _stderr(log: str | Path | None) -> Iterator[IO[bytes]]:
    if log is None:
        with tempfile.TemporaryFile() as temporary:
            yield temporary
    else:
        with open(log, "ab") as file:
            yield file


def _env() -> dict[str, str]:
    """The child imports the same `lab` as this process, installed or not."""
    root = str(Path(lab.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


def _wait_ready(proc: subprocess.Popen[str], err: IO[bytes], deadline: float) -> str:
    assert proc.stdout is not None
    line = ""
    if select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
        line = proc.stdout.readline().strip()
    if not line.startswith(READY_PREFIX):
        raise SimStartError(_failure(proc, err, f"no {READY_PREFIX!r} line (got {line!r})"))
    url = line.removeprefix(READY_PREFIX)
    import urllib.request  # here, not at the top: `python -m lab.sim` starts faster without it

    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=1) as answer,
        ):
            if answer.status == 200:
                return url
        time.sleep(0.01)
    raise SimStartError(_failure(proc, err, f"{url}/health did not answer"))


def _failure(proc: subprocess.Popen[str], err: IO[bytes], what: str) -> str:
    stop(proc)
    output = ""
    with contextlib.suppress(OSError, ValueError):
        err.flush()
        err.seek(0)
        output = err.read().decode(errors="replace")[-4000:]
    return f"simulated engine failed to start: {what}; exit {proc.returncode}\n{output}"
