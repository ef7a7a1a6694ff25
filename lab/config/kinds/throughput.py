"""throughput: fixed-length prompts, closed loop at each concurrency, then open-loop arrivals
(Poisson, or gamma gaps) at each rate; a level each."""

from __future__ import annotations

from dataclasses import dataclass

from lab.config.kinds.base import FIXED_GATE, LEVEL, Kind, register
from lab.config.kinds.plan import Level, arrivals, lengths, open_loop_users
from lab.config.slo import Slo


@dataclass(frozen=True)
class ThroughputScenario:
    name: str
    kind: str
    concurrency: tuple[int, ...]
    rates: tuple[float, ...]
    duration: int
    prompt_tokens: int
    output_tokens: int
    seed: int | None
    slo: Slo | None
    burstiness: float = 1.0  # gamma shape of open-loop gaps (1: Poisson)
    # Straight to the engines, round-robin by the client (lab.inproc.targets): what the
    # router adds is then "through the router" against this.
    direct: bool = False


@register
class Throughput(Kind):
    name = "throughput"
    options = ThroughputScenario
    figures = (LEVEL,)
    gated = FIXED_GATE

    @classmethod
    def levels(cls, scenario: ThroughputScenario) -> list[Level]:
        s = scenario
        fixed = lengths(s.prompt_tokens, s.output_tokens)
        closed = [
            Level(f"c{c}", "throughput.py", c, c, s.duration, dict(fixed)) for c in s.concurrency
        ]
        opened = [
            Level(
                f"rate{rate:g}",
                "throughput.py",
                users := open_loop_users(rate),
                users,
                s.duration,
                {**fixed, **arrivals(rate, s.burstiness)},
            )
            for rate in s.rates
        ]
        return closed + opened
