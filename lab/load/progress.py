"""What a run says on the terminal as it goes: a level's figures in one line."""

from __future__ import annotations

from lab.console import bad, ok
from lab.results import level as level_figures


def say_level(scenario: str, name: str, figures: dict) -> None:
    """A level's figures in one line on the terminal."""

    def ms(name: str) -> str:
        value = figures.get(level_figures.key(name))
        return "-" if value is None else f"{value:.0f} ms"

    line = (
        f"{scenario}/{name}: {figures['completed']} ok, {figures['failed']} failed, "
        f"{figures['requests_per_s']:.2f} req/s, {figures['output_tokens_per_s']:.0f} tok/s, "
        f"TTFT p50 {ms('ttft_p50')}, TPOT p50 {ms('tpot_p50')}, E2E p50 {ms('e2e_p50')}"
    )
    if figures.get("prefix_cache_hit_rate") is not None:
        line += f", prefix-cache hits {figures['prefix_cache_hit_rate']:.0%}"
    if figures.get("session_stickiness") is not None:
        line += f", stickiness {figures['session_stickiness']:.0%}"
    if figures.get("foreign_traffic"):
        line += f"; engine counters {figures['foreign_traffic']}"
    if figures.get("client_limited"):
        line += f"; CLIENT-LIMITED: {figures['client_limited']}"
    (ok if figures["failed"] == 0 and not figures.get("client_limited") else bad)(line)
