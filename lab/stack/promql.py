"""Engine counters from a Prometheus's HTTP API, for engines this machine cannot reach one by
one (a stack the lab did not start, its engines inside a cluster): each engine is the series
whose `instance` label is its URL's host:port, as Prometheus names a scrape target.

Prometheus holds what it last scraped, so a reading waits until every series of the engine
was scraped after the moment it was asked for: a level's last requests are then counted."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

FRESH_TIMEOUT = 30.0  # seconds to wait for a scrape newer than the question (several intervals)
POLL = 0.2
WINDOW = "5m"  # how far back the last sample of each series is looked for


def instance(url: str) -> str:
    """The `instance` label Prometheus gives a scrape target at `url`."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def series(
    base: str, urls: Sequence[str], names: Sequence[str], client: httpx.Client
) -> list[dict]:
    """The series of these names of the engines at `urls`, over the window:
    [{metric, values}, ...]."""
    # A regex of the instances, each escaped for the regex and then for PromQL's string.
    wanted = "|".join(re.escape(instance(url)).replace("\\", "\\\\") for url in urls)
    selector = f'{{__name__=~"{"|".join(names)}",instance=~"{wanted}"}}[{WINDOW}]'
    response = client.get(f"{base}/api/v1/query", params={"query": selector})
    response.raise_for_status()
    try:
        found: list[dict] = response.json()["data"]["result"]
    except (ValueError, KeyError, TypeError):
        raise httpx.DecodingError(f"{base} does not answer Prometheus' query API") from None
    return found


def counters(
    base: str,
    urls: Sequence[str],
    names: Sequence[str],
    client: httpx.Client,
    timeout: float = FRESH_TIMEOUT,
) -> dict[str, dict[str, float]]:
    """{url: {name: value summed over its series}} as Prometheus scraped each engine after
    now (one question for them all). Raises httpx's errors; when Prometheus does not scrape
    every one of them again in time, a TimeoutException."""
    asked = time.time()
    deadline = time.monotonic() + timeout
    while True:
        found = series(base, urls, names, client)
        last = [
            (s["metric"]["instance"], s["metric"]["__name__"], *s["values"][-1])
            for s in found
            if s["values"]
        ]
        fresh = {where for where, _, stamp, _ in last if float(stamp) >= asked}
        stale = {where for where, _, stamp, _ in last if float(stamp) < asked}
        if fresh - stale == {instance(url) for url in urls}:
            totals = {url: dict.fromkeys(names, 0.0) for url in urls}
            named = {instance(url): url for url in urls}
            for where, name, _, value in last:
                totals[named[where]][name] += float(value)
            return totals
        if time.monotonic() > deadline:
            raise httpx.TimeoutException(
                f"Prometheus {base} has not scraped {', '.join(map(instance, urls))} within "
                f"{timeout:.0f} s"
            )
        time.sleep(POLL)
