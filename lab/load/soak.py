"""A soak scenario while it runs and once it has: every `interval` seconds the resident memory
and open file descriptors of the router, each engine and each Locust process (each with its
children: a vLLM engine runs its engine core in one), and once a minute the latency of the
requests that ended in it, appended to <scenario>/soak_series.csv (lab.results.soak reads it);
afterwards its verdicts (lab.compare.soak), written to soak.json and said, the memory gate
failing the scenario.

Only processes of this machine can be sampled: on a platform whose router and engines run
elsewhere (containers, a cluster, a stack the lab did not start) only Locust is, said once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil

from lab.compare import soak as verdicts
from lab.config.kinds import Scenario
from lab.config.kinds.soak import SoakScenario
from lab.console import bad, note, ok, say
from lab.errors import StepFailed
from lab.load import background
from lab.results import soak
from lab.stack import processes
from lab.stack.state import State

MINUTE = 60.0
LOCUST = "locust"


@contextlib.contextmanager
def sampling(
    scenario: Scenario,
    current: State,
    lead: list[subprocess.Popen],
    place: Path,
    level: str,
) -> Iterator[None]:
    """Sample a soak's processes in a background thread for the block; nothing for another
    kind of scenario."""
    if not isinstance(scenario, SoakScenario):
        yield
        return
    watched = _watched(current)
    if not watched:
        note("soak: the router and engines do not run on this machine; only Locust is sampled")
    with background.beside(_sample, watched, lead, place, level, scenario.interval):
        yield


def _watched(current: State) -> dict[str, processes.Proc]:
    """The router and engines the lab started here, by name."""
    names = {"router", *(e.name for e in current.require_endpoints().engines)}
    return {p.name: p for p in current.processes if p.name in names}


def _sample(
    watched: dict[str, processes.Proc],
    lead: list[subprocess.Popen],
    place: Path,
    level: str,
    interval: float,
    stop: threading.Event,
) -> None:
    path = place / soak.FILE
    tail = Tail(place / "requests.csv", level)
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(soak.COLUMNS)
        due = time.monotonic() + interval
        minute = time.monotonic() + MINUTE
        while not stop.wait(max(0.0, due - time.monotonic())):
            due += interval
            now = f"{time.time():.3f}"
            for source, (rss, fds) in _round(watched, lead).items():
                writer.writerow([now, source, soak.MEMORY, f"{rss:.3f}"])
                writer.writerow([now, source, soak.FDS, fds])
            if time.monotonic() >= minute:
                minute += MINUTE
                for metric, value in tail.minute().items():
                    writer.writerow([now, soak.REQUESTS, metric, f"{value:.4g}"])
            file.flush()


def _round(
    watched: dict[str, processes.Proc], lead: list[subprocess.Popen]
) -> dict[str, tuple[float, int]]:
    """(RSS in MB, open fds) of each process with its children; one that is gone is left out."""
    found: dict[str, psutil.Process] = {}
    for name, proc in watched.items():
        _, process = processes.leader(proc)
        if process is not None:
            found[name] = process
    for index, popen in enumerate(lead):
        with contextlib.suppress(psutil.Error):
            found[LOCUST if index == 0 else f"{LOCUST}-{index}"] = psutil.Process(popen.pid)
    out = {}
    for name, process in found.items():
        with contextlib.suppress(psutil.Error):
            out[name] = usage(process)
    return out


def usage(process: psutil.Process) -> tuple[float, int]:
    """A process's resident memory (MB) and open file descriptors, its children's included."""
    rss, fds = 0, 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            rss += member.memory_info().rss
            fds += member.num_fds()
    return rss / 1e6, fds


class Tail:
    """The rows requests.csv gained since the last look (Locust flushes each as it ends)."""

    def __init__(self, path: Path, level: str) -> None:
        self.path, self.level = path, level
        self.offset = path.stat().st_size if path.exists() else 0
        self.header: list[str] | None = None

    def minute(self) -> dict[str, float]:
        """Latency of the successful requests that ended since the last call, and the count."""
        rows = self._new_rows()
        ok_rows = [r for r in rows if r.get("status") == "ok" and r.get("level") == self.level]
        ttft = [float(r["ttft_ms"]) for r in ok_rows if r.get("ttft_ms")]
        e2e = [float(r["e2e_ms"]) for r in ok_rows if r.get("e2e_ms")]
        out = {"count": float(len(rows))}
        if ttft:
            out["ttft_p50_ms"], out["ttft_p99_ms"] = np.percentile(ttft, [50, 99]).tolist()
        if e2e:
            out["e2e_p50_ms"] = float(np.median(e2e))
        return out

    def _new_rows(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            if self.header is None:
                self.header = next(csv.reader([file.readline().decode()]), None)
                self.offset = max(self.offset, file.tell())
            file.seek(self.offset)
            chunk = file.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]  # a row being written waits for the next look
        self.offset += len(whole)
        reader = csv.reader(io.StringIO(whole.decode(errors="replace")))
        return [dict(zip(self.header or [], row, strict=False)) for row in reader if row]


def judge(scenario: Scenario, place: Path, level: str, deltas: dict[str, dict[str, float]]) -> None:
    """A soak's verdicts, written and said; StepFailed when its memory gate fails."""
    if not isinstance(scenario, SoakScenario):
        return
    served = sum(counters.get("requests", 0.0) for counters in deltas.values())
    found, failures = verdicts.verdicts(place, level, scenario, served)
    soak.write_verdicts(place, found)
    for source, s in found["slopes"].items():
        if s is None:
            note(f"soak: {source}: too few samples after the warm-up for a slope")
        else:
            say(f"📈 {source}: {s['mb_per_h']:+.1f} MB/h (90% interval {s['low']:+.1f} to "
                f"{s['high']:+.1f}; after {scenario.warmup} s of warm-up)")  # fmt: skip
    counted = found["requests"]
    if counted["lost"] or counted["unaccounted"]:
        bad(f"soak: requests lost: Locust counted {counted['locust_count']}, requests.csv has "
            f"{counted['rows']} ({counted['failed_rows']} failed), the engines served "
            f"{counted['engines_served']:g}")  # fmt: skip
    else:
        ok(f"soak: no request lost ({counted['rows']} sent)")
    if failures:
        raise StepFailed("; ".join(failures))
