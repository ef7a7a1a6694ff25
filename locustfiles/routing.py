"""Routing: multi-round QA, as production-stack's benchmarks/multi-round-qa. Every user shares
one system prompt, has its own history, and asks --lab-rounds questions, one every
1/--lab-user-qps seconds, each carrying the whole conversation so far and a session header.
Which engine answers, and whether its prefix cache hits, is what routing decides.

A user's conversation ends after its rounds. In a headless run the user then stays idle, and
the run ends with the last conversation. With --lab-keep-conversing (the web UI, whose tests
end when stopped) it starts a new one, as a new session, for as long as the test runs: as
production-stack's multi-round QA starts a new user when one has asked all its questions.

With --lab-tokenizer the conversation goes out as the token IDs the model's chat template
makes of it, on /v1/completions: for a router that routes on token IDs (lab.inproc.chat_tokens).

    locust -f locustfiles/routing.py --host http://127.0.0.1:30080 -u 8 -r 2
"""

from __future__ import annotations

import itertools

from locust import constant_pacing, events, task

from lab.inproc import chat_tokens, swarm
from lab.inproc.llm_user import LLMUser, rng, words

FINISHED = itertools.count(1)


@events.test_start.add_listener
def count_afresh(**_) -> None:
    global FINISHED
    FINISHED = itertools.count(1)


@events.init.add_listener
def load_tokenizer(environment, **_) -> None:
    """At start-up, not in the run: loading it blocks the event loop for about 2 s."""
    options = environment.parsed_options
    if tokenizer := getattr(options, "lab_tokenizer", "") if options else "":
        chat_tokens.tokenizer(tokenizer)


@events.init_command_line_parser.add_listener
def options(parser) -> None:
    parser.add_argument("--lab-rounds", type=int, default=5, help="questions per user")
    parser.add_argument("--lab-system-words", type=int, default=200, help="shared system prompt")
    parser.add_argument("--lab-history-words", type=int, default=100, help="each user's history")
    parser.add_argument("--lab-answer-tokens", type=int, default=16, help="tokens per answer")
    parser.add_argument("--lab-user-qps", type=float, default=1.0, help="requests/s per user")
    # Set by the lab from the router it drives: hidden from the web UI's parameters.
    parser.add_argument(
        "--lab-session-key", default="x-user-id", help="session header", include_in_web_ui=False
    )
    parser.add_argument(
        "--lab-keep-conversing",
        action="store_true",
        help="a new conversation when one ends, until the test stops",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--lab-tokenizer",
        default="",
        help="send token IDs made with this model's tokenizer",
        include_in_web_ui=False,
    )


class MultiRoundQAUser(LLMUser):
    kind = "routing"

    def wait_time(self) -> float:
        return constant_pacing(1 / self.environment.parsed_options.lab_user_qps)(self)

    def on_start(self) -> None:
        self.conversations = 0
        self.done = False
        self.converse()

    def converse(self) -> None:
        """A new conversation: the shared system prompt and this user's notes, as a session of
        its own (user-N, then user-N.1, user-N.2, ...), from round 0."""
        options = self.environment.parsed_options
        count = self.conversations
        self.conversations += 1
        self.session = f"user-{self.number}" + (f".{count}" if count else "")
        system = words(options.lab_system_words, rng(0))  # one system prompt for every user
        # The first conversation's notes as they always were: a seeded run's prompts stay.
        notes = (1, self.number, count) if count else (1, self.number)
        history = words(options.lab_history_words, rng(*notes))
        self.messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": f"My notes so far: {history}"},
            {"role": "assistant", "content": "Noted."},
        ]
        self.round = 0

    @task
    def ask_next_question(self) -> None:
        options = self.environment.parsed_options
        if self.round >= options.lab_rounds:
            if not options.lab_keep_conversing:
                self.finish()
                return
            self.converse()
        question = f"Here's question #{self.round}: can you tell me a new long story?"
        self.messages.append({"role": "user", "content": question})
        send, prompt = self.chat, self.messages
        if options.lab_tokenizer:
            send, prompt = self.complete, chat_tokens.token_ids(options.lab_tokenizer, prompt)
        answer = send(
            prompt,
            options.lab_answer_tokens,
            headers={options.lab_session_key: self.session},
            session=self.session,
            round=self.round,
        )
        self.messages.append({"role": "assistant", "content": answer.text if answer else ""})
        self.round += 1

    def finish(self) -> None:
        """This conversation is over: the user stays, idle (a user that stopped would be
        replaced by a new one while others are still spawning); the last conversation of the
        last process to end stops the test (headless runs end, the web UI stays open)."""
        if self.done:
            return
        self.done = True
        runner = self.environment.runner
        if runner is not None and next(FINISHED) >= runner.target_user_count:
            swarm.all_done(self.environment)


if __name__ == "__main__":
    from locust import run_single_user

    run_single_user(MultiRoundQAUser)
