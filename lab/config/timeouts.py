"""The client's time limits (the profile's load.timeouts): how long the Locust user waits for a
stack that does not answer before it ends the request and records how it failed.

The defaults are far above what a healthy request takes on the slowest stack the lab runs (a
vLLM CPU engine with a queue: a first chunk after tens of seconds, an answer of a few hundred
tokens in minutes), so they cut only requests that hang: 60 s for the first byte of the answer,
30 s between two chunks of a stream (a CPU engine's batch step takes well under a second), and
600 s for the whole request (the user's socket timeout before these limits existed).
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_BYTE_S = 60.0
STALL_S = 30.0
TOTAL_S = 600.0
OPTIONS = {
    "first_byte_s": "--lab-first-byte-s",
    "stall_s": "--lab-stall-s",
    "total_s": "--lab-total-s",
}


@dataclass(frozen=True)
class Timeouts:
    first_byte_s: float = FIRST_BYTE_S  # from sending to the answer's first byte
    stall_s: float = STALL_S  # between two lines of a streamed answer
    total_s: float = TOTAL_S  # from sending to the end of the answer

    def options(self) -> list[str]:
        """The Locust user's options that carry these limits."""
        return [part for name, flag in OPTIONS.items() for part in (flag, str(getattr(self, name)))]
