"""The arm of each request in a side-by-side A/B: balanced blocks, sessions kept on one arm."""

from __future__ import annotations

import random

from lab.inproc import arms

ROUTERS = {"A": "http://127.0.0.1:30080", "B": "http://127.0.0.1:30081"}


def test_requests_split_evenly_in_random_order() -> None:
    chosen = arms.Arms(ROUTERS, random.Random(1))
    picks = [chosen.choose() for _ in range(101)]
    assert abs(picks.count("A") - picks.count("B")) == 1
    assert picks[:20] != ["A", "B"] * 10 and picks[:20] != ["B", "A"] * 10  # not alternating


def test_a_session_stays_on_the_arm_it_started_on() -> None:
    chosen = arms.Arms(ROUTERS, random.Random(2))
    first = {f"user-{n}": chosen.choose(f"user-{n}") for n in range(10)}
    assert list(first.values()).count("A") == 5
    for _ in range(3):
        assert all(chosen.choose(s) == arm for s, arm in first.items())


def test_route_is_the_plain_path_without_arms(monkeypatch) -> None:
    assert arms.route(None, "/v1/completions") == ("/v1/completions", "")
    monkeypatch.setenv(arms.ARMS_ENV, '{"A": "http://a", "B": "http://b"}')
    url, arm = arms.route(arms.from_environment(), "/v1/completions")
    assert url == f"http://{arm.lower()}/v1/completions"
