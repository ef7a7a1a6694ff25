"""Bring-up time of a profile on the local platform, by phase, and the peak memory it takes.

    nox -s benchmark -- bring-up [PROFILE] [--set PATH=VALUE ...] [--cold]

Memory is sampled every 0.2 s over every process the lab started (API servers, engine cores,
workers, router, Prometheus): PSS counts shared pages once, RSS counts them in each process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

import psutil
from rich.table import Table

from lab.config import profile
from lab.console import out
from lab.platforms.local.platform import LocalPlatform
from lab.stack import processes, state


def sample(stop: threading.Event, peak: dict[str, float]) -> None:
    while not stop.is_set():
        current = state.load()
        rss = pss = 0.0
        for proc in current.processes if current else []:
            for member in processes.members(proc):
                try:
                    info = member.memory_full_info()
                except psutil.Error:
                    continue
                rss += info.rss
                pss += info.pss
        peak["rss"] = max(peak["rss"], rss)
        peak["pss"] = max(peak["pss"], pss)
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", nargs="?", default="cpu")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--cold", action="store_true", help="make the tiny model afresh")
    args = parser.parse_args()
    os.environ["LAB_STATE_DIR"] = tempfile.mkdtemp(prefix="lab-bench-")
    if args.cold:
        os.environ["LAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="lab-bench-cache-")
    lab = profile.load(args.profile, args.sets)
    platform = LocalPlatform()
    platform.check(lab)
    peak = {"rss": 0.0, "pss": 0.0}
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(stop, peak), daemon=True)
    sampler.start()
    began = time.monotonic()
    current = platform.up(lab)
    total = time.monotonic() - began
    time.sleep(1)  # one more sample of the settled stack
    stop.set()
    sampler.join()
    platform.down(current)

    table = Table(title=f"bring-up of {lab.name} ({lab.engine.replicas} engines, local)")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    names = {
        "model": "model ready",
        "engines": "engines healthy",
        "router": "router ready",
        "prometheus": "prometheus ready",
    }
    for key, label in names.items():
        table.add_row(label, f"{current.details['phases'][key]:.1f}")
    table.add_row("total", f"{total:.1f}")
    table.add_row("peak memory, PSS", f"{peak['pss'] / 2**30:.2f} GiB")
    table.add_row("peak memory, RSS", f"{peak['rss'] / 2**30:.2f} GiB")
    out.print(table)


if __name__ == "__main__":
    main()
