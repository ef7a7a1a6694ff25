"""Where each request goes: to the router (Locust's --host, the default), or, with --lab-direct,
straight to the engines, spread round-robin by the client. The same users send the same
requests either way, so "through the router" against "direct" measures what the router adds.

Importing this module imports Locust: import it from the lab's Locust user only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from locust import events
from locust.env import Environment


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    parser.add_argument(
        "--lab-direct",
        default="",
        help="comma-separated engine URLs: bypass the router, spreading requests round-robin",
    )


class Targets:
    """The base URL of each request: none (Locust's host) or the next engine in turn. One
    cycle for all the users of this process, so that the spread is even whatever each user
    sends."""

    def __init__(self) -> None:
        self.engines: Iterator[str] | None = None

    def choose(self, urls: list[str]) -> None:
        self.engines = itertools.cycle(urls) if urls else None

    def url(self, path: str) -> str:
        """The URL to post `path` to: Locust resolves a bare path against its host and takes an
        absolute URL as it is."""
        return path if self.engines is None else f"{next(self.engines).rstrip('/')}{path}"


TARGETS = Targets()


@events.init.add_listener
def _choose_targets(environment: Environment, **_: Any) -> None:
    given = (
        getattr(environment.parsed_options, "lab_direct", "") if environment.parsed_options else ""
    )
    TARGETS.choose([url for url in given.split(",") if url])
