"""routing: multi-round QA, as production-stack's benchmark: users with a shared system prompt
and their own growing chat history, in one level."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lab.config.kinds.base import FIXED_GATE, LEVEL, ROUTING, Engines, Kind, Problem, register
from lab.config.kinds.plan import Level
from lab.config.slo import Slo

ANSWER_ALLOWANCE = 5  # seconds one routing round may take beyond its pacing
# A round adds a question (about 25 tokens with its chat-template markers) and an answer.
QUESTION_TOKENS = 40


@dataclass(frozen=True)
class RoutingScenario:
    name: str
    kind: str
    users: int
    rounds: int
    system_prompt_words: int
    history_words: int
    answer_tokens: int
    user_qps: float
    seed: int | None
    slo: Slo | None  # its own, else the profile's


@register
class Routing(Kind):
    name = "routing"
    options = RoutingScenario
    figures = (LEVEL, ROUTING)
    gated = (*FIXED_GATE, "prefix_cache_hit_rate", "session_stickiness")

    @classmethod
    def problems(cls, scenario: RoutingScenario, engines: Engines) -> list[Problem]:
        """Its conversations fit the engines' context."""
        tokens = conversation_tokens(scenario)
        if tokens <= engines.max_model_len:
            return []
        return [
            (
                "",
                f"its conversations grow to about {tokens} tokens, beyond engine.max_model_len "
                f"({engines.max_model_len}): expected fewer rounds, shorter prompts or answers, "
                "or a longer max_model_len",
            )
        ]

    @classmethod
    def levels(cls, scenario: RoutingScenario) -> list[Level]:
        s = scenario
        spawn_rate = max(1.0, s.users / 4)  # users join staggered, as in multi-round QA
        ramp = s.users / spawn_rate
        return [
            Level(
                name="routing",
                locustfile="routing.py",
                users=s.users,
                spawn_rate=spawn_rate,
                # An upper bound only (the last conversation to end stops the run): a round
                # takes its pacing, or as long as a slow stack needs to answer (up to
                # ANSWER_ALLOWANCE s).
                run_time=math.ceil(ramp + s.rounds * (1 / s.user_qps + ANSWER_ALLOWANCE) + 60),
                options={
                    "--lab-rounds": str(s.rounds),
                    "--lab-system-words": str(s.system_prompt_words),
                    "--lab-history-words": str(s.history_words),
                    "--lab-answer-tokens": str(s.answer_tokens),
                    "--lab-user-qps": str(s.user_qps),
                },
            )
        ]


def conversation_tokens(s: RoutingScenario) -> int:
    """About how long the last round's prompt is, in tokens (one per word, as with the tiny
    model's words; real tokenizers need somewhat more)."""
    return s.system_prompt_words + s.history_words + s.rounds * (QUESTION_TOKENS + s.answer_tokens)
