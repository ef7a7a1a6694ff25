"""Tests marked `timing` hold the clock to a few milliseconds: under pytest-xdist they run alone,
while the other workers wait between their tests (two cores shared by three workers delayed a
5 ms measurement by 12 ms). Without xdist every test runs alone anyway.

Two locked files in a folder the controller makes for the run (LOCKS names it): a test holds
`running` shared, a timing test holds it exclusive. The `door` lets a timing test in ahead of
the tests that come after it: a worker passes it on the way to `running`, and a timing test
keeps it shut until it is done, so the other workers cannot keep `running` shared for ever.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCKS = "LAB_TEST_TIMING_LOCKS"


@contextlib.contextmanager
def _locked(path: Path, how: int) -> Iterator[None]:
    with path.open("a") as file:
        fcntl.flock(file, how)
        yield  # closing the file releases the lock


# The locks a run of timing tests holds, from the first of them to the last: one wait for the
# tests beside it, not one for each.
_ALONE: list[contextlib.ExitStack] = []


@contextlib.contextmanager
def turn(alone: bool, next_alone: bool = False) -> Iterator[None]:
    """Run one test: `alone`, with no other test of this run running, or beside other tests.
    A timing test followed by another (`next_alone`) keeps the others waiting for that one."""
    folder = os.environ.get(LOCKS)
    if not folder:  # no pytest-xdist workers: nothing runs beside this test
        yield
        return
    door, running = Path(folder) / "door", Path(folder) / "running"
    if alone:
        if not _ALONE:
            locks = contextlib.ExitStack()
            locks.enter_context(_locked(door, fcntl.LOCK_EX))
            locks.enter_context(_locked(running, fcntl.LOCK_EX))
            _ALONE.append(locks)
        try:
            yield
        finally:
            if not next_alone:
                _ALONE.pop().close()
        return
    with contextlib.ExitStack() as held:
        with _locked(door, fcntl.LOCK_EX):
            held.enter_context(_locked(running, fcntl.LOCK_SH))
        yield
