"""Stream timing definitions, with a scripted clock: exact numbers."""

from __future__ import annotations

import json

import pytest

from lab.inproc import streaming


def event(payload: dict | str) -> bytes:
    return b"data: " + (payload if isinstance(payload, str) else json.dumps(payload)).encode()


def chat(content: str, finish: str | None = None) -> bytes:
    return event({"choices": [{"delta": {"content": content}, "finish_reason": finish}]})


def usage(prompt: int, completion: int) -> bytes:
    return event(
        {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}
    )


class Clock:
    """Returns the scripted arrival time of each line in turn."""

    def __init__(self, times: list[float]) -> None:
        self.times = iter(times)

    def __call__(self) -> float:
        return next(self.times)


def test_ttft_itl_e2e_tpot_and_tokens() -> None:
    role = event({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
    lines = [
        role,
        b"",
        chat("a"),
        b"",
        chat("b"),
        chat("c", "length"),
        usage(12, 3),
        event("[DONE]"),
    ]
    times = [10.05, 10.06, 10.2, 10.21, 10.25, 10.4, 10.41, 10.42]
    m = streaming.read(lines, sent=10.0, started=1000.0, clock=Clock(times))
    assert m.ttft_ms == pytest.approx(200)  # the role chunk carries no token
    assert m.itl_ms == pytest.approx([50, 150])
    assert m.e2e_ms == pytest.approx(400)  # the usage chunk carries no choice
    assert m.tpot_ms == pytest.approx((400 - 200) / 2)
    assert (m.prompt_tokens, m.output_tokens) == (12, 3)
    assert m.text == "abc" and m.finish_reason == "length"


def test_a_token_whose_text_is_held_back_is_the_first_token() -> None:
    """vLLM streams a chunk per token, its text empty while the token's bytes make no whole
    character yet: TTFT is that chunk's, as vllm bench serve and the engine's clock have it."""
    held = event({"choices": [{"text": "", "finish_reason": None}]})
    whole = event({"choices": [{"text": "é", "finish_reason": "length"}]})
    m = streaming.read([held, whole, usage(4, 2)], 0.0, 0.0, Clock([0.02, 0.05, 0.06]))
    assert m.ttft_ms == pytest.approx(20) and m.itl_ms == pytest.approx([30])
    assert m.e2e_ms == pytest.approx(50) and m.text == "é"


def test_cached_prompt_tokens_are_read_when_reported() -> None:
    details = event(
        {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 1,
                                  "prompt_tokens_details": {"cached_tokens": 32}}}
    )  # fmt: skip
    m = streaming.read([chat("a", "length"), details], 0.0, 0.0, Clock([0.1, 0.2]))
    assert (m.prompt_tokens, m.cached_tokens) == (40, 32)
    plain = streaming.read([chat("a", "length"), usage(40, 1)], 0.0, 0.0, Clock([0.1, 0.2]))
    assert plain.cached_tokens is None


def test_completions_stream_text_counts_too() -> None:
    text = event({"choices": [{"text": "x", "finish_reason": None}]})
    end = event({"choices": [{"text": "x", "finish_reason": "length"}]})
    m = streaming.read([text, end], sent=0.0, started=0.0, clock=Clock([0.1, 0.3]))
    assert m.ttft_ms == pytest.approx(100) and m.itl_ms == pytest.approx([200])


def test_comments_and_pings_are_skipped() -> None:
    lines = [b": ping", chat("a", "stop")]
    m = streaming.read(lines, sent=0.0, started=0.0, clock=Clock([0.05, 0.1]))
    assert m.ttft_ms == pytest.approx(100)


def test_one_token_has_no_tpot() -> None:
    lines = [chat("a", "length"), usage(1, 1)]
    m = streaming.read(lines, sent=0.0, started=0.0, clock=Clock([0.1, 0.2]))
    assert m.tpot_ms is None and m.itl_ms_mean is None


def test_a_stream_without_a_token_fails() -> None:
    with pytest.raises(streaming.StreamError, match="without any token"):
        streaming.read([usage(1, 0), event("[DONE]")], 0.0, 0.0, Clock([0.1, 0.2]))


def test_a_stream_that_ends_without_a_finish_reason_was_cut() -> None:
    with pytest.raises(streaming.StreamError, match="without a finish reason") as raised:
        streaming.read([chat("a"), chat("b"), event("[DONE]")], 0.0, 0.0, Clock([0.1, 0.2, 0.3]))
    assert not isinstance(raised.value, streaming.NoToken)


def test_an_error_event_fails_with_its_message() -> None:
    error = event({"error": {"message": "model overloaded"}})
    with pytest.raises(streaming.StreamError, match="model overloaded"):
        streaming.read([error], 0.0, 0.0, Clock([0.1]))
