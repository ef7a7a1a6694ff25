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


@contextlib.contextmanager
def turn(alone: bool) -> Iterator[None]:
    """Run one test: `alone`, with no other test of this run running, or beside other tests."""
    folder = os.environ.get(LOCKS)
    if not folder:  # no pytest-xdist workers: nothing runs beside this test
        yield
        return
    door, running = Path(folder) / "door", Path(folder) / "running"
    if alone:
        with _locked(door, fcntl.LOCK_EX), _locked(running, fcntl.LOCK_EX):
            yield
        return
    with contextlib.ExitStack() as held:
        with _locked(door, fcntl.LOCK_EX):
            held.enter_context(_locked(running, fcntl.LOCK_SH))
        yield
