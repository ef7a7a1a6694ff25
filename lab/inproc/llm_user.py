"""The streaming OpenAI-compatible Locust user the lab's scenarios subclass (locustfiles/).

Per request it records TTFT, every inter-token gap, TPOT, E2E and token counts
(lab.inproc.streaming) twice: as Locust stats rows of type METRIC (so they show in the web UI, the
CSVs and the HTML report) and as one raw row in the samples CSV (Locust buckets its response times
to about two significant digits; statistics need the raw values).

Importing this module imports Locust, which monkey-patches the standard library with gevent:
import it from locustfiles only.
"""

from __future__ import annotations

import http.client
import itertools
import os
import random
import time
from pathlib import Path
from typing import Any

import orjson
from locust import FastHttpUser, events
from locust.env import Environment

from lab.config.model import CORPUS
from lab.inproc import streaming, swarm
from lab.inproc.engine_tag import HEADER as ENGINE_HEADER

METRIC = "METRIC"  # the Type of the lab's metric rows in Locust's stats
# Without a word list (--lab-words), plain English words of the lab's corpus: a few tokens each.
DEFAULT_WORDS = sorted({w.strip(".,") for line in CORPUS for w in line.split()[1:]})


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    """Options every lab scenario takes (Locust's own parser; they show in the web UI too)."""
    group = parser.add_argument_group("vLLM Stack Lab")
    group.add_argument("--lab-model", default="tiny-llama", help="served model name")
    group.add_argument("--lab-scenario", default="", help="scenario name written in samples")
    group.add_argument("--lab-level", default="", help="load level written in samples")
    group.add_argument(
        "--lab-api-key-env", default="", help="environment variable holding the API key"
    )
    group.add_argument(
        "--lab-words", default="", help="file of one-token words prompts are made of"
    )
    group.add_argument(
        "--lab-seed", type=int, default=-1, help="seed of the prompts' words (-1: a fresh one)"
    )


@events.init.add_listener
def _load_words(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    path = getattr(options, "lab_words", "") if options else ""
    VOCABULARY[:] = Path(path).read_text().split() if path else DEFAULT_WORDS
    if options is not None:
        # A master's options go to its workers with their users: pods have no word file.
        options.lab_vocabulary = list(VOCABULARY)


@events.test_start.add_listener
def _words_from_master(environment: Environment, **_: Any) -> None:
    if swarm.is_worker(environment) and (given := environment.parsed_options.lab_vocabulary):
        VOCABULARY[:] = given


VOCABULARY: list[str] = list(DEFAULT_WORDS)


def words(count: int, rng: random.Random) -> str:
    """`count` words; with the tiny model's word list (--lab-words), `count` tokens."""
    return " ".join(rng.choice(VOCABULARY) for _ in range(count))


# Set when the run time is up. Locust's stop does slow work in this process (it walks the
# stack), so a request still streaming then is timed late: it is kept, marked "drain".
STOPPING = {"since": 0.0}


@events.test_start.add_listener
def _running(**_: Any) -> None:
    STOPPING["since"] = 0.0


SEED = {"base": 0}


@events.test_start.add_listener
def _choose_seed(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    given = getattr(options, "lab_seed", -1)
    SEED["base"] = given if given >= 0 else random.SystemRandom().randrange(2**31)
    # A master's options go to its workers with their users: all then draw from one seed.
    options.lab_seed = SEED["base"]


def rng(*stream: int) -> random.Random:
    """A random generator for one stream of prompts (e.g. a user's), from the run's seed: runs
    with the same seed send the same prompts; runs without one never repeat a prompt."""
    return random.Random(hash((SEED["base"], *stream)))


@events.test_stopping.add_listener
def _draining(**_: Any) -> None:
    STOPPING["since"] = time.time()


def record(environment: Environment, m: streaming.Measurement) -> None:
    """The measurement as Locust METRIC rows. Logged on the rows themselves, not through the
    request event, so they do not inflate the Aggregated row's request count."""
    stats = environment.stats
    stats.get("ttft_ms", METRIC).log(m.ttft_ms, m.prompt_tokens)
    stats.get("e2e_ms", METRIC).log(m.e2e_ms, m.output_tokens)
    if m.tpot_ms is not None:
        stats.get("tpot_ms", METRIC).log(m.tpot_ms, m.output_tokens)
    itl = stats.get("itl_ms", METRIC)
    for gap in m.itl_ms:
        itl.log(gap, 1)


# A stream that breaks off (an engine killed mid-answer) raises geventhttpclient's
# HTTPParseError (an http.client.HTTPException) or a socket error; a garbled chunk, ValueError
# (orjson's JSONDecodeError): all of them are recorded failures.
BROKEN_STREAM = (streaming.StreamError, ValueError, http.client.HTTPException, OSError)
# Sent with every request: a body as JSON, and a stream that is not compressed (its chunks
# are timed as they land).
JSON_HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "identity"}


class LLMUser(FastHttpUser):
    """Sends streamed completions and measures them. Scenario users subclass it.

    FastHttpUser (geventhttpclient, a C HTTP parser) rather than HttpUser (requests): a streamed
    chunk costs the client about half the CPU (benchmarks/loadgen.py)."""

    abstract = True
    numbers = itertools.count()
    # A stack under heavy load may queue a request for minutes before its first token.
    network_timeout = 600.0
    connection_timeout = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.number = swarm.user_number(self.environment, next(LLMUser.numbers))

    def chat(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        headers: dict[str, str] | None = None,
        **sample: Any,
    ) -> streaming.Measurement | None:
        """One streamed chat completion, measured and recorded; None when it failed (the
        failure is recorded too, with its error)."""
        return self._stream(
            "/v1/chat/completions", {"messages": messages}, max_tokens, headers, sample
        )

    def complete(
        self,
        prompt: list[int],
        max_tokens: int,
        headers: dict[str, str] | None = None,
        **sample: Any,
    ) -> streaming.Measurement | None:
        """One streamed completion of a prompt given as token IDs, as `chat` measures it."""
        return self._stream("/v1/completions", {"prompt": prompt}, max_tokens, headers, sample)

    def _stream(
        self,
        path: str,
        prompt: dict[str, Any],
        max_tokens: int,
        headers: dict[str, str] | None,
        sample: dict[str, Any],
    ) -> streaming.Measurement | None:
        options = self.environment.parsed_options
        body = orjson.dumps(
            {
                "model": options.lab_model,
                **prompt,
                "max_tokens": max_tokens,
                "ignore_eos": True,  # vLLM: generate exactly max_tokens, as vllm bench does
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
        headers = {**JSON_HEADERS, **(headers or {})}
        if options.lab_api_key_env and os.environ.get(options.lab_api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[options.lab_api_key_env]}"
        row: dict[str, Any] = {
            "scenario": options.lab_scenario,
            "level": options.lab_level,
            "user": self.number,
            **sample,
        }
        # The clock starts once the request is ready to go: making it is the client's work.
        started = time.time()
        sent = time.perf_counter()
        row["start_time"] = f"{started:.6f}"
        with self.client.post(
            path, data=body, headers=headers, stream=True, catch_response=True, name=path
        ) as response:
            row["engine"] = (response.headers or {}).get(ENGINE_HEADER, "")
            if response.status_code != 200:
                error = _refusal(response)
                response.failure(error)
                self._keep({**row, "status": "error", "error": error, "phase": self._phase()})
                return None
            try:
                # geventhttpclient's own response, whose parser's buffer lines() reads
                m = streaming.read(streaming.lines(response._response), sent, started)
            except BROKEN_STREAM as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                response.failure(error)
                self._keep({**row, "status": "error", "error": error, "phase": self._phase()})
                return None
            response.success()
        phase = self._phase()
        if phase == "run":
            record(self.environment, m)
        self._keep({**row, **_sample_fields(m), "status": "ok", "error": "", "phase": phase})
        return m

    def _keep(self, row: dict[str, Any]) -> None:
        swarm.keep(self.environment, swarm.SAMPLE, row)

    @staticmethod
    def _phase() -> str:
        return "drain" if STOPPING["since"] else "run"


def _refusal(response: Any) -> str:
    """Why a request got no stream: an HTTP error with the start of its body, or the error
    Locust put in place of a response (status 0: a refused or reset connection)."""
    if response.status_code == 0:
        return f"{type(response.error).__name__}: {response.error}"[:300]
    return f"HTTP {response.status_code}: {(response.text or '')[:200]}"[:300]


def _sample_fields(m: streaming.Measurement) -> dict[str, Any]:
    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    return {
        "prompt_tokens": m.prompt_tokens,
        "output_tokens": m.output_tokens,
        "cached_tokens": "" if m.cached_tokens is None else m.cached_tokens,
        "ttft_ms": ms(m.ttft_ms),
        "tpot_ms": ms(m.tpot_ms),
        "itl_ms_mean": ms(m.itl_ms_mean),
        "e2e_ms": ms(m.e2e_ms),
        "itl_ms": ";".join(f"{gap:.3f}" for gap in m.itl_ms),
    }
