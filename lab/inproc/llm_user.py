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

import gevent
import orjson
from locust import FastHttpUser, events
from locust.env import Environment

from lab.config import slo
from lab.config.model import CORPUS
from lab.inproc import arms, failures, prompts, streaming, swarm
from lab.inproc.engine_tag import HEADER as ENGINE_HEADER
from lab.inproc.referee import ANSWER_NAME as REFEREE_HEADER
from lab.inproc.targets import TARGETS

METRIC = "METRIC"  # the Type of the lab's metric rows in Locust's stats
# Without a word list (--lab-words), plain English words of the lab's corpus: a few tokens each.
DEFAULT_WORDS = sorted({w.strip(".,") for line in CORPUS for w in line.split()[1:]})


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    """Options every lab scenario takes (Locust's own parser). The lab's plumbing is hidden
    from the web UI's custom parameters (swarm.HIDDEN); what shapes the load (the seed, and
    each scenario's own options) shows there."""
    hidden = swarm.HIDDEN
    parser.add_argument("--lab-model", default="tiny-llama", help="served model name", **hidden)
    parser.add_argument("--lab-scenario", default="", help="scenario written in samples", **hidden)
    parser.add_argument("--lab-level", default="", help="load level written in samples", **hidden)
    parser.add_argument(
        "--lab-api-key-env", default="", help="environment variable holding the API key", **hidden
    )
    parser.add_argument(
        "--lab-words", default="", help="file of one-token words prompts are made of", **hidden
    )
    parser.add_argument(
        "--lab-seed", type=int, default=-1, help="seed of the prompts' words (-1: a fresh one)"
    )
    parser.add_argument(
        "--lab-slo",
        default="",
        help='per-request SLO limits, JSON: {"ttft_ms": 500, ...}',
        **hidden,
    )
    failures.add_options(parser, hidden)


@events.init.add_listener
def _clock_now(**_: Any) -> None:
    """gevent's loop keeps the time it last looked at, and nothing has let it look since it was
    made, before Locust's start-up (seconds of imports on a busy machine): a timer set from it
    (Locust's --run-time, the lab's --lab-run-time) would end each run that much early. Look
    now."""
    gevent.get_hub().loop.update_now()


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
    if swarm.is_worker(environment) and (given := swarm.parsed(environment).lab_vocabulary):
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
LIMITS: dict[str, float] = {}  # the SLO's per-request limits (--lab-slo); none: no judgement


@events.test_start.add_listener
def _read_slo(environment: Environment, **_: Any) -> None:
    LIMITS.clear()
    LIMITS.update(slo.parse_option(getattr(environment.parsed_options, "lab_slo", "")))


@events.test_start.add_listener
def _choose_seed(environment: Environment, **_: Any) -> None:
    options = swarm.parsed(environment)
    given = getattr(options, "lab_seed", -1)
    SEED["base"] = given if given >= 0 else random.SystemRandom().randrange(2**31)
    # A master's options go to its workers with their users: all then draw from one seed.
    options.lab_seed = SEED["base"]


def rng(*stream: int) -> random.Random:
    """A random generator for one stream of prompts (e.g. a user's), from the run's seed: runs
    with the same seed send the same prompts; runs without one never repeat a prompt."""
    return random.Random(hash((SEED["base"], *stream)))


# A side-by-side A/B's arms (lab.inproc.arms), read when the run starts; None: one stack.
ARMS: dict[str, arms.Arms | None] = {"now": None}


@events.test_start.add_listener
def _read_arms(**_: Any) -> None:
    ARMS["now"] = arms.from_environment()


@events.test_stopping.add_listener
def _draining(**_: Any) -> None:
    STOPPING["since"] = time.time()


def record(environment: Environment, m: streaming.Measurement) -> None:
    """The measurement as Locust METRIC rows. Logged on the rows themselves, not through the
    request event, so they do not inflate the Aggregated row's request count."""
    rows = {
        "ttft_ms": (m.ttft_ms, m.prompt_tokens),
        "e2e_ms": (m.e2e_ms, m.output_tokens),
        "tpot_ms": (m.tpot_ms, m.output_tokens),
    }
    for name, (value, length) in rows.items():
        if value is not None:
            _log(environment.stats.get(name, METRIC), value, length)
    itl = environment.stats.get("itl_ms", METRIC)
    for gap in m.itl_ms:
        _log(itl, gap, 1)


def _log(entry: Any, milliseconds: float, length: int) -> None:
    """Locust's StatsEntry.log, given milliseconds as a float: its type says int, but it sums
    and buckets floats as they are, so the means keep sub-millisecond precision."""
    entry.log(milliseconds, length)


# A stream that breaks off (an engine killed mid-answer) raises geventhttpclient's
# HTTPParseError (an http.client.HTTPException) or a socket error; a garbled chunk, ValueError
# (orjson's JSONDecodeError); a time limit, failures.TimedOut: all of them are recorded failures.
BROKEN_STREAM = (streaming.StreamError, ValueError, http.client.HTTPException, OSError)
# Sent with every request: a body as JSON, and a stream that is not compressed (its chunks
# are timed as they land).
JSON_HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "identity"}


class LLMUser(FastHttpUser):
    """Sends streamed completions and measures them. Scenario users subclass it and say which
    kind of scenario they play (`kind`: a scenario kind of the lab's profiles).

    FastHttpUser (geventhttpclient, a C HTTP parser) rather than HttpUser (requests): a streamed
    chunk costs the client about half the CPU (benchmarks/loadgen.py)."""

    abstract = True
    kind: str
    numbers = itertools.count()
    # The client's own limits (failures.bounded) end a request first; the socket's timeouts,
    # set just beyond them, only back them up.
    network_timeout = 600.0
    connection_timeout = 60.0

    def __init__(self, environment: Environment, *args: Any, **kwargs: Any) -> None:
        if environment.parsed_options is not None:
            limit = failures.limits(environment.parsed_options)
            self.network_timeout = limit.total_s + 5
            self.connection_timeout = limit.first_byte_s + 5
        super().__init__(environment, *args, **kwargs)
        self.number = swarm.user_number(self.environment, next(LLMUser.numbers))
        # Whether it is at work, for the web UI's active users (lab.load.web_figures): a
        # request in flight, and when its last request began or ended (never: 0).
        self.sending = False
        self.last_request = 0.0

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
        self.sending, self.last_request = True, time.time()
        try:
            return self._send(path, prompt, max_tokens, headers, sample)
        finally:
            self.sending, self.last_request = False, time.time()

    def _send(
        self,
        path: str,
        prompt: dict[str, Any],
        max_tokens: int,
        headers: dict[str, str] | None,
        sample: dict[str, Any],
    ) -> streaming.Measurement | None:
        options = self.environment.parsed_options
        # Text, as Locust's FastHttpSession types its body (it sends it as it is).
        body = orjson.dumps(
            {
                "model": options.lab_model,
                **prompt,
                "max_tokens": max_tokens,
                "ignore_eos": True,  # vLLM: generate exactly max_tokens, as vllm bench does
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ).decode()
        headers = {**JSON_HEADERS, **(headers or {})}
        if options.lab_api_key_env and os.environ.get(options.lab_api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[options.lab_api_key_env]}"
        row: dict[str, Any] = {
            "scenario": options.lab_scenario,
            "level": options.lab_level,
            "user": self.number,
            "prompt": prompts.record(prompt),  # so the run can be exported and sent again
            **sample,
        }
        # The clock starts once the request is ready to go: making it is the client's work.
        started = time.time()
        sent = time.perf_counter()
        row["start_time"] = f"{started:.6f}"
        # An A/B arm's router (ab --concurrent), else the router (Locust's host), or an engine
        # in direct mode.
        url, row["arm"] = arms.route(ARMS["now"], path, str(sample.get("session", "")))
        if not row["arm"]:
            url = TARGETS.url(path)
        limit = failures.limits(options)
        try:
            answer = failures.within(
                limit.first_byte_s,
                failures.TIMEOUT_FIRST_BYTE,
                lambda: self.client.post(
                    url, data=body, headers=headers, stream=True, catch_response=True, name=path
                ),
            )
        except failures.TimedOut as exc:  # no headers in time: Locust has not counted it
            self._count_failure(path, sent, exc)
            self._keep_failure(row, str(exc), sent, exc.kind)
            return None
        with answer as response:
            row["engine"] = (response.headers or {}).get(ENGINE_HEADER, "")
            row["referee_id"] = (response.headers or {}).get(REFEREE_HEADER, "")
            if response.status_code != 200:
                error = _refusal(response)
                response.failure(error)
                failure = failures.refused(response.status_code, response.error)
                self._keep_failure(row, error, sent, failure)
                return None
            try:
                # geventhttpclient's own response, whose parser's buffer lines() reads
                lines = streaming.lines(response._response)
                timed = failures.bounded(lines, sent, limit, time.perf_counter)
                m = streaming.read(timed, sent, started)
            except BROKEN_STREAM as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                response.failure(error)
                self._keep_failure(row, error, sent, failures.classify(exc))
                return None
            response.success()
        phase = self._phase()
        if phase == "run":
            record(self.environment, m)
        judged = slo.good(LIMITS, True, m.ttft_ms, m.tpot_ms, m.e2e_ms, m.output_tokens)
        self._keep(
            {**row, **_sample_fields(m), "status": "ok", "error": "", "failure": "", "phase": phase,
             "slo_ok": _slo_flag(judged, phase)}
        )  # fmt: skip
        return m

    def _keep_failure(self, row: dict[str, Any], error: str, sent: float, failure: str) -> None:
        phase = self._phase()
        failed = {**_broke(sent), "error": error, "failure": failure, "phase": phase}
        self._keep({**row, **failed, "slo_ok": _slo_flag(False, phase)})

    def _count_failure(self, path: str, sent: float, error: Exception) -> None:
        """Count in Locust's stats a request that ended before Locust made a response of it,
        so that Locust's count and the samples' still agree."""
        self.environment.events.request.fire(
            request_type="POST",
            name=path,
            response_time=(time.perf_counter() - sent) * 1000,
            response_length=0,
            exception=error,
            context={},
        )

    def _keep(self, row: dict[str, Any]) -> None:
        swarm.keep(self.environment, swarm.SAMPLE, row)

    @staticmethod
    def _phase() -> str:
        return "drain" if STOPPING["since"] else "run"


def activity(environment: Environment) -> list[tuple[bool, float]]:
    """(a request in flight, when its last request began or ended) of each of the lab's users
    this process runs."""
    users = [g.args[0] for g in swarm.runner(environment).user_greenlets if g.args]
    return [(u.sending, u.last_request) for u in users if isinstance(u, LLMUser)]


def _refusal(response: Any) -> str:
    """Why a request got no stream: an HTTP error with the start of its body, or the error
    Locust put in place of a response (status 0: a refused or reset connection)."""
    if response.status_code == 0:
        return f"{type(response.error).__name__}: {response.error}"[:300]
    return f"HTTP {response.status_code}: {(response.text or '')[:200]}"[:300]


def _broke(sent: float) -> dict[str, str]:
    """A failed request's fields: its e2e_ms is how long it ran until it broke, so that a
    failure is placed in time by when it broke (lab.load.resilience), not only when it was sent."""
    return {"status": "error", "e2e_ms": f"{(time.perf_counter() - sent) * 1000:.3f}"}


def _slo_flag(good: bool, phase: str) -> str:
    """requests.csv's slo_ok: left empty without an SLO, and for drained requests, whose timing
    is the load generator's (the summary leaves them out too)."""
    if not LIMITS or phase != "run":
        return ""
    return "1" if good else "0"


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
