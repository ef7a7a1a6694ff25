"""Where and with what a run ran, probed once when it starts: versions of the lab, Locust,
vllm-router and the engines, the lab's git commit, the host."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
from pathlib import Path
from typing import Any

import httpx
import psutil

from lab import __version__
from lab.paths import CHECKOUT
from lab.runner import Runner


def versions(engine_url: str) -> dict[str, str]:
    found = {"lab": __version__, "python": platform.python_version()}
    for name, dist in (("locust", "locust"), ("vllm_router", "vllm-router")):
        try:
            found[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed here"
    try:
        found["vllm"] = httpx.get(f"{engine_url}/version", timeout=5).json()["version"]
    except (httpx.HTTPError, ValueError, KeyError):
        found["vllm"] = "unknown"
    return found


def git_commit() -> str | None:
    if not (CHECKOUT / ".git").exists():
        return None
    done = Runner(quiet=True).run(
        ["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], query=True, check=False
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def host() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count() or 0,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
