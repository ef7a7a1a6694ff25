"""One admitted request: what the engine's scheduler and its metrics both read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Run:
    """One admitted request, as the server fills it in while it streams."""

    prompt_tokens: int
    cached_tokens: int
    arrival: float  # loop time (monotonic seconds)
    admitted: float
    first_token_at: float  # deadline of the first token
    blocks: int
    generated: int = 0
    first_token: float | None = None  # loop time the first token went out
    finished_reason: str = "abort"
