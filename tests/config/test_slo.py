"""The SLO: `vllm bench serve --goodput`'s rule per request, a level's verdict, and bad SLOs
refused before anything starts."""

from __future__ import annotations

import pytest

from lab.config import profile, slo
from lab.config.slo import Slo
from lab.errors import ConfigError
from tests.helpers.lab import lab_main

LIMITS = {"ttft_ms": 100.0, "tpot_ms": 10.0, "e2e_ms": 500.0}


@pytest.mark.parametrize(
    ("ok", "ttft", "tpot", "e2e", "tokens", "good"),
    [
        (True, 100.0, 10.0, 500.0, 33, True),  # exactly at every limit: vLLM's `s >= r`
        (True, 100.001, 5.0, 200.0, 33, False),
        (True, 50.0, 10.001, 200.0, 33, False),
        (True, 50.0, 5.0, 500.001, 33, False),
        (True, 50.0, None, 80.0, 1, True),  # one token: vLLM counts its TPOT as 0
        (True, 50.0, 99.0, 80.0, 1, True),  # ... whatever was computed for it
        (True, 50.0, None, 80.0, 2, False),  # two tokens need a TPOT to meet the limit
        (False, 1.0, 1.0, 1.0, 33, False),  # a failure is never good
    ],
)
def test_a_request_is_good_by_vllm_goodput_rules(ok, ttft, tpot, e2e, tokens, good) -> None:
    assert slo.good(LIMITS, ok, ttft, tpot, e2e, tokens) is good


def test_a_limit_not_given_is_not_checked() -> None:
    assert slo.good({"ttft_ms": 100.0}, True, 100.0, 1e9, 1e9, 33)
    assert slo.good({}, True, None, None, None, 0)  # no limit at all: success is enough


@pytest.mark.parametrize(
    ("attainment", "error_rate", "met"),
    [(0.9, 0.01, True), (0.8999, 0.0, False), (1.0, 0.0101, False), (None, 0.0, False)],
)
def test_a_level_meets_the_slo_with_enough_good_requests_and_few_errors(
    attainment, error_rate, met
) -> None:
    target = Slo(ttft_ms=100, tpot_ms=None, e2e_ms=None, attainment=0.9, max_error_rate=0.01)
    assert target.met(attainment, error_rate) is met


def test_the_limits_travel_to_the_locust_user_and_back() -> None:
    target = Slo(ttft_ms=500, tpot_ms=None, e2e_ms=2000.5, attainment=0.9, max_error_rate=0.0)
    assert slo.parse_option(target.option()) == {"ttft_ms": 500.0, "e2e_ms": 2000.5}
    assert slo.parse_option("") == {}


def test_a_scenario_slo_replaces_the_profiles_whole(write) -> None:
    path = write(
        "p.yaml",
        "name: p\nslo: {ttft_ms: 500, tpot_ms: 50}\n"
        "scenarios:\n  - {name: a, kind: throughput}\n"
        "  - {name: b, kind: throughput, slo: {e2e_ms: 900, attainment: 0.5}}\n",
    )
    lab = profile.load(path)
    assert lab.scenarios[0].slo == Slo(500, 50, None, 0.9, 0.01)  # defaults from the schema
    assert lab.scenarios[1].slo == Slo(None, None, 900, 0.5, 0.01)


CAPACITY = "scenarios: [{name: cap, kind: capacity}]\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slo: {ttft: 500}\n", "slo.ttft: unknown key (did you mean 'ttft_ms'?)"),
        ("slo: {ttft_ms: 0}\n", "slo.ttft_ms: 0 is less than or equal to the minimum of 0"),
        ("slo: {e2e_ms: -5}\n", "slo.e2e_ms: -5 is less than or equal to the minimum of 0"),
        ("slo: {ttft_ms: 5, attainment: 0}\n", "slo.attainment: 0 is less than or equal"),
        ("slo: {ttft_ms: 5, attainment: 1.01}\n", "slo.attainment: 1.01 is greater than"),
        ("slo: {ttft_ms: 5, max_error_rate: 2}\n", "slo.max_error_rate: 2 is greater than"),
        ("slo: {attainment: 0.5}\n", "slo: no limit: expected one of ttft_ms, tpot_ms, e2e_ms"),
        (CAPACITY, "scenarios[0]: a capacity scenario needs an SLO"),
        (
            "scenarios: [{name: cap, kind: capacity, slo: {p99_ms: 3}}]\n",
            "scenarios[0].slo.p99_ms: unknown key",
        ),
    ],
)
def test_bad_slos_are_refused_before_anything_starts(write, tmp_path, text, expected) -> None:
    path = write("bad.yaml", "name: p\n" + text)
    with pytest.raises(ConfigError) as exc:
        profile.load(path)
    assert any(p.startswith(f"{path}: ") and expected in p for p in exc.value.problems), exc.value
    done = lab_main("run", "--profile", str(path), "--out", str(tmp_path / "results"),
                    state_dir=tmp_path / "state")  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stderr and str(path) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "state").exists()


def test_an_slo_set_on_the_command_line_is_blamed_on_it() -> None:
    with pytest.raises(ConfigError) as exc:
        profile.load("cpu", ["slo={attainment: 0.5}"])
    assert exc.value.problems == [
        "--set slo={attainment: 0.5}: slo: no limit: expected one of ttft_ms, tpot_ms, e2e_ms"
    ]
