"""What a run says on the terminal as it goes: a level's figures in one line."""

from __future__ import annotations

from lab.console import bad, ok


def say_level(scenario: str, level: str, figures: dict) -> None:
    """A level's figures in one line on the terminal."""

    def ms(key: str) -> str:
        value = figures.get(key)
        return "-" if value is None else f"{value:.0f} ms"

    line = (
        f"{scenario}/{level}: {figures['completed']} ok, {figures['failed']} failed, "
        f"{figures['requests_per_s']:.2f} req/s, {figures['output_tokens_per_s']:.0f} tok/s, "
        f"TTFT p50 {ms('p50_ttft_ms')}, TPOT p50 {ms('p50_tpot_ms')}, E2E p50 {ms('p50_e2e_ms')}"
    )
    if figures.get("prefix_cache_hit_rate") is not None:
        line += f", prefix-cache hits {figures['prefix_cache_hit_rate']:.0%}"
    if figures.get("session_stickiness") is not None:
        line += f", stickiness {figures['session_stickiness']:.0%}"
    if figures.get("client_limited"):
        line += f"; CLIENT-LIMITED: {figures['client_limited']}"
    (ok if figures["failed"] == 0 and not figures.get("client_limited") else bad)(line)
