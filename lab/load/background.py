"""Sampling beside a level: one daemon thread that runs while the level does."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

JOIN_TIMEOUT = 10.0  # seconds a sampler may take to notice the level's end and finish its row


@contextlib.contextmanager
def beside(sample: Callable[..., None], *args: Any) -> Iterator[None]:
    """Run sample(*args, stop) in a daemon thread for the duration of the block; stop (an
    Event) is set when the block ends, and the thread is waited for a little while."""
    stop = threading.Event()
    thread = threading.Thread(target=sample, args=(*args, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=JOIN_TIMEOUT)
