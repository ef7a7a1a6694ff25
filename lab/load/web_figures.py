"""The lab's own figures of a web UI test as it runs, for the UI's LLM tab and chart page.

The samples the test's users have written so far are read as the file grows, and summarized
with the engines' counters by lab.results.summary, as summary.json is at the end: so the
figures the UI shows when a test stops are those its results folder keeps. No Locust here
(it runs in Locust's process, but is tested on its own).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from lab.config.slo import Slo
from lab.results import level as level_figures
from lab.results import summary
from lab.results.manifest import Manifest

# A chart point summarizes the requests that ended in the last WINDOW_S seconds; a user is
# active when a request of its own is in flight or ended within as long.
WINDOW_S = 10.0


class Tail:
    """The samples of a growing requests.csv. Its writer is in the same process and flushes
    whole rows, so a read never meets half a row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: IO[str] | None = None
        self.rows: csv.DictReader | None = None
        self.samples: list[summary.Sample] = []

    def read(self) -> list[summary.Sample]:
        """Every sample so far (the new rows parsed, the others kept)."""
        if self.rows is None:
            if not self.path.exists():
                return self.samples
            self.file = self.path.open(newline="")
            self.rows = csv.DictReader(self.file)
        # A reader at the end of the file goes on with what is appended after.
        self.samples.extend(summary.from_row(row) for row in self.rows)
        return self.samples

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _yes_no(value: float) -> str:
    return "yes" if value else "no"


# (summary.json key of a figure, label, format): what the LLM tab shows.
FIGURES: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("completed", "completed", "{:.0f}".format),
    ("failed", "failed", "{:.0f}".format),
    ("requests_per_s", "requests/s", "{:.2f}".format),
    ("output_tokens_per_s", "output tokens/s", "{:.1f}".format),
    *(
        (level_figures.key(f"{metric}_p{p}"), f"{label} p{p} (ms)", "{:.1f}".format)
        for metric, label in (("ttft", "TTFT"), ("tpot", "TPOT"), ("e2e", "E2E"))
        for p in level_figures.PERCENTILES
    ),
    ("prefix_cache_hit_rate", "prefix-cache hit rate", _percent),
    ("session_stickiness", "session stickiness", _percent),
    ("slo_attainment", "SLO attainment", _percent),
    ("goodput_rps", "goodput (req/s)", "{:.2f}".format),
    ("slo_met", "SLO met", _yes_no),
)


def figure_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value as shown) of a test's figures; '-' for what it has no value of."""
    total = figures.get("requests", 0) + figures.get("drained", 0)
    rows = [("requests", f"{total}")]  # Locust's own count: drained requests included
    for key, label, shown in FIGURES:
        value = figures.get(key)
        rows.append((label, "-" if value is None else shown(value)))
    for engine, count in figures.get("requests_per_engine", {}).items():
        rows.append((f"requests on {engine}", f"{count}"))
    return rows


def stack_rows(manifest: Manifest) -> list[tuple[str, str]]:
    """The stack the UI drives, from the manifest its runs start from."""
    endpoints = manifest.endpoints
    return [
        ("profile", manifest.profile_name),
        ("platform", manifest.platform),
        ("routing", endpoints["routing"]),
        ("router", endpoints["router"]),
        ("engines", ", ".join(endpoints["engines"])),
    ]


def slo_text(slo: Slo | None) -> str:
    """The SLO a test is judged against, in a line: its limits, the share that must meet
    them, the errors allowed."""
    if slo is None:
        return "none (the profile sets no slo: requests are not judged)"
    limits = ", ".join(
        f"{name.removesuffix('_ms').upper()} <= {limit:g} ms"
        for name, limit in slo.limits().items()
    )
    return (
        f"{limits} for {100 * slo.attainment:g}% of requests, "
        f"at most {100 * slo.max_error_rate:g}% failed"
    )


def active_users(activity: Iterable[tuple[bool, float]], now: float) -> int:
    """Users at work: (a request in flight, when the last one began or ended) per user; one
    whose last request ended more than WINDOW_S ago (a conversation over, an arrival not yet
    due) is idle."""
    return sum(1 for sending, last in activity if sending or now - last <= WINDOW_S)


def stack_line(manifest: Manifest) -> str:
    endpoints = manifest.endpoints
    return (
        f"profile {manifest.profile_name} on {manifest.platform}: "
        f"{endpoints['routing']} routing at {endpoints['router']} over "
        f"{len(endpoints['engines'])} engines ({', '.join(endpoints['engines'])})"
    )


def point(
    samples: list[summary.Sample],
    began: float,
    now: float,
    users: tuple[int, int],
    hit_rate: float | None,
) -> dict[str, Any]:
    """One point of the charts: the requests that ended in the last WINDOW_S seconds (their
    latency percentiles, output tokens/s), the users (spawned, active), the prefix-cache hit
    rate so far."""
    recent = [s for s in samples if now - WINDOW_S < s.end <= now]
    width = min(WINDOW_S, now - began)

    def percentile(metric: str, p: int) -> float | None:
        data = summary.values(recent, metric)
        return float(np.percentile(data, p)) if data else None

    tokens = sum(s.output_tokens for s in recent if s.ok and s.measured)
    return {
        "t": round(now - began, 1),
        "users": users[0],
        "active_users": users[1],
        "ttft_p50": percentile("ttft_ms", 50),
        "ttft_p90": percentile("ttft_ms", 90),
        "tpot_p50": percentile("tpot_ms", 50),
        "tpot_p90": percentile("tpot_ms", 90),
        "e2e_p50": percentile("e2e_ms", 50),
        "e2e_p90": percentile("e2e_ms", 90),
        "output_tokens_per_s": tokens / width if width > 0 else 0.0,
        "prefix_cache_hit_rate": None if hit_rate is None else 100 * hit_rate,
    }
