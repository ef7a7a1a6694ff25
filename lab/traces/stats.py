"""What a trace holds, counted as it streams past (`python -m lab trace stats`, and a replay
level's dry run): requests, sessions, duration, the peak rate in 1 s and 10 s windows, token
percentiles, and the theoretical prefix reuse: the share of prompt tokens in blocks an
unbounded cache has already seen."""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field

WINDOWS = (1.0, 10.0)  # seconds of the peak-rate windows
PERCENTILES = (50, 90, 99)
NEVER = -(2**80)  # the key of a block no other request has (outside any hash's range)


@dataclass
class Tally:
    requests: int = 0
    sessions: set[int] = field(default_factory=set)
    first_ms: float | None = None
    last_ms: float | None = None
    inputs: array = field(default_factory=lambda: array("l"))
    outputs: array = field(default_factory=lambda: array("l"))
    seen: Seen = field(default_factory=lambda: Seen())
    reused: int = 0
    windows: dict[float, deque] = field(default_factory=lambda: {w: deque() for w in WINDOWS})
    peaks: dict[float, int] = field(default_factory=lambda: dict.fromkeys(WINDOWS, 0))

    def add(
        self, at_ms: float | None, session: str, output: int, blocks: list[tuple[int, int]]
    ) -> None:
        """One request: its blocks as (key, tokens), keys equal where the prefix is."""
        self.requests += 1
        self.sessions.add(hash(session))  # ints: a million sessions in a few MB
        self.inputs.append(sum(size for _, size in blocks))
        self.outputs.append(output)
        for key, size in blocks:
            if key == NEVER:
                continue
            if key in self.seen:
                self.reused += size
            self.seen.add(key)
        if at_ms is not None:
            self._arrival(at_ms)

    def _arrival(self, at_ms: float) -> None:
        self.first_ms = at_ms if self.first_ms is None else self.first_ms
        self.last_ms = at_ms
        for width, times in self.windows.items():
            times.append(at_ms)
            while times[0] <= at_ms - width * 1000:
                times.popleft()
            self.peaks[width] = max(self.peaks[width], len(times))

    @property
    def reuse(self) -> float:
        total = sum(self.inputs)
        return self.reused / total if total else 0.0

    @property
    def duration_s(self) -> float | None:
        if self.first_ms is None or self.last_ms is None:
            return None
        return (self.last_ms - self.first_ms) / 1000

    def lines(self, fmt: str) -> list[str]:
        """The figures as lines of text."""
        said = [f"format: {fmt}", f"requests: {self.requests}", f"sessions: {len(self.sessions)}"]
        if (duration := self.duration_s) is None:
            said.append("duration: no timestamps")
        else:
            said.append(f"duration: {duration:.1f} s")
            said += [f"peak rate in {w:g} s: {self.peaks[w] / w:g} req/s" for w in WINDOWS]
        for name, values in (("input tokens", self.inputs), ("output tokens", self.outputs)):
            shown = ", ".join(f"p{p} {percentile(values, p)}" for p in PERCENTILES)
            said.append(f"{name}: {shown}, total {sum(values)}")
        said.append(f"theoretical prefix reuse (unbounded cache): {self.reuse:.1%}")
        return said


class Seen:
    """Block keys already seen. Mooncake's hash ids are small whole numbers, counted from 0:
    those are bits of a bitmap (a million requests' ids in a few MB, where a set would take
    hundreds); any other key (a prefix's hash) goes in a set."""

    BITMAP_BELOW = 2**32

    def __init__(self) -> None:
        self.bits = bytearray()
        self.others: set[int] = set()

    def __contains__(self, key: int) -> bool:
        if 0 <= key < self.BITMAP_BELOW:
            byte = key >> 3
            return byte < len(self.bits) and bool(self.bits[byte] >> (key & 7) & 1)
        return key in self.others

    def add(self, key: int) -> None:
        if not 0 <= key < self.BITMAP_BELOW:
            self.others.add(key)
            return
        byte = key >> 3
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        self.bits[byte] |= 1 << (key & 7)


def percentile(values: array, p: float) -> int:
    """The nearest-rank percentile (0 when there are none)."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return int(ordered[rank])
