"""Per-fault figures from samples and events.csv, without a stack: which failed requests a
fault affected (on its engine, or by elimination when no engine answered), when the router
stopped sending to the engine, when service recovered."""

from __future__ import annotations

from lab.results import fault_figures
from lab.results.summary import Sample


def sample(start: float, end: float, engine: str, failure: str = "") -> Sample:
    return Sample(
        start=start, level="faults", session="", round="", engine=engine, prompt_tokens=8,
        output_tokens=8, cached_tokens=None, ttft_ms=None if failure else 10.0, tpot_ms=None,
        e2e_ms=(end - start) * 1000, itl_ms=(), ok=not failure, error=failure, phase="run",
        failure=failure,
    )  # fmt: skip


EVENTS = [
    (10.0, "hang engine-1", "begin"),
    (10.1, "hang engine-1 done", "engine-1: 3 process(es) stopped (SIGSTOP)"),
    (20.0, "hang engine-1 end", "begin"),
    (20.1, "hang engine-1 end done", "engine-1: 3 process(es) continued (SIGCONT)"),
    (30.0, "router_restart", "begin"),
    (31.0, "router_restart done", "restarted the router"),
]


def test_a_hang_takes_its_engine_s_failures_and_those_no_engine_answered() -> None:
    samples = [
        sample(0.0, 0.5, "engine-0"),
        sample(9.0, 9.5, "engine-1"),  # before the hang
        sample(9.8, 12.0, "engine-1", "stream_cut"),  # under way when it began
        sample(11.0, 13.0, "", "timeout_first_byte"),  # no engine answered: by elimination
        sample(12.0, 12.3, "engine-0", "http_500"),  # another engine's failure
        sample(13.0, 13.2, "engine-1"),  # the router still sent to it at 13 s ...
        sample(14.0, 14.2, "engine-0"),  # ... and to engine-0 only after
        sample(21.0, 21.2, "engine-1"),  # served again after the hang was lifted
        sample(30.2, 30.2, "", "connect"),  # the router's restart
    ]
    hang, restart = fault_figures.figures(samples, EVENTS)
    assert hang["fault"] == "hang engine-1" and hang["engine"] == "engine-1"
    assert (hang["injected_s"], hang["lifted_s"]) == (10.0, 20.0)
    assert hang["affected_by_class"] == {"stream_cut": 1, "timeout_first_byte": 1}
    assert hang["requests_affected"] == 2
    assert hang["router_stopped_sending_after_s"] == 3.0
    assert hang["recovered_after_s"] == 3.0  # its last failure ended at 13 s
    assert hang["engine_serving_again_after_lift_s"] == 1.0
    assert restart["affected_by_class"] == {"connect": 1} and restart["engine"] is None
    assert restart["lifted_s"] == 31.0


def test_a_failure_no_engine_answered_is_nobody_s_when_two_engine_faults_were_on() -> None:
    both = [*EVENTS[:4], (12.0, "slow engine-0", "begin"), (18.0, "slow engine-0 end", "begin")]
    samples = [sample(11.0, 13.0, "", "timeout_first_byte")]
    hang, slow = fault_figures.figures(samples, both)
    assert hang["requests_affected"] == 0 and slow["requests_affected"] == 0


def test_a_router_that_kept_sending_until_the_fault_was_lifted_never_stopped() -> None:
    samples = [sample(t, t + 0.1, "engine-1") for t in (10.5, 15.0, 19.5)]
    (hang, _) = fault_figures.figures(samples, EVENTS)
    assert hang["router_stopped_sending_after_s"] is None
    assert hang["sent_to_engine_during"] == 3


def test_the_timeline_shows_each_fault_and_escapes_what_the_file_says() -> None:
    page = fault_figures.timeline(
        {"faults": {"faults": [{"fault": "<b>hang</b>", "affected_by_class": {"connect": 2}}]}}
    )
    assert "&lt;b&gt;hang&lt;/b&gt;" in page and "connect 2" in page
    assert fault_figures.timeline({"c4": {"faults": "not a list"}}) == ""
