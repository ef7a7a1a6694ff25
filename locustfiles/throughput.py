"""Throughput: fixed-length prompts, closed loop (each user sends its next request as soon as
the last one ends) or, with --lab-rate, open-loop arrivals (Poisson, or gamma with
--lab-burstiness) shared by all users, and dealt out to the workers of a distributed run.

    locust -f locustfiles/throughput.py --host http://127.0.0.1:30080 -u 4 -r 4
"""

from __future__ import annotations

import time

import gevent
from locust import constant, events, task

from lab.inproc import swarm
from lab.inproc.llm_user import STOPPING, LLMUser, rng, words
from lab.inproc.poisson import Pacer

ARRIVALS = Pacer()


@events.init_command_line_parser.add_listener
def options(parser) -> None:
    parser.add_argument("--lab-prompt-tokens", type=int, default=128, help="prompt length")
    parser.add_argument("--lab-output-tokens", type=int, default=32, help="answer length")
    parser.add_argument(
        "--lab-rate", type=float, default=0.0, help="arrivals per second (0: closed loop)"
    )
    parser.add_argument(
        "--lab-burstiness", type=float, default=1.0, help="gamma shape of the gaps (1: Poisson)"
    )


@events.test_start.add_listener
def start_arrivals(environment, **_) -> None:
    """This process's share of the level's one schedule, made from the run's seed (the same in
    every process). Each process begins it as its users start: the master's spawn messages
    reach the workers within milliseconds of each other."""
    options = environment.parsed_options
    index, count = swarm.share(environment)
    seed = rng(3).randrange(2**31)
    ARRIVALS.start(options.lab_rate, options.lab_burstiness, seed, index=index, count=count)


class ThroughputUser(LLMUser):
    kind = "throughput"
    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = rng(2, self.number)

    @task
    def ask(self) -> None:
        options = self.environment.parsed_options
        due = ARRIVALS.claim()
        gevent.sleep(max(0.0, due - time.monotonic()))
        if STOPPING["since"]:
            return  # the arrival fell after the run's end: not part of the run
        lag_ms = (time.monotonic() - due) * 1000
        # A fresh random prompt each time: no prefix-cache hits, as vllm bench's random data.
        prompt = words(options.lab_prompt_tokens, self.rng)
        self.chat(
            [{"role": "user", "content": prompt}], options.lab_output_tokens, lag_ms=f"{lag_ms:.1f}"
        )


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(ThroughputUser)
