"""The capacity search: its steps, bracket, interval, stops and named limit, driven by a modelled
stack (requests written and summarised as the scenario runner does, no Locust); then against a
simulated engine behind the real vllm-router, whose service rate is known."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.config import profile
from lab.config.kinds import CapacityScenario
from lab.config.kinds import capacity as capacity_kind
from lab.config.slo import Slo
from lab.inproc.samples import CPU_COLUMNS, CPU_FILE
from lab.load import capacity, scenarios
from lab.results import series, summary
from tests.helpers.rendering import without_report
from tests.helpers.samples import row, write_samples
from tests.helpers.simstack import sim_stack

SLO = Slo(ttft_ms=500, tpot_ms=50, e2e_ms=None, attainment=0.9, max_error_rate=0.01)
REQUESTS = 200  # per modelled level


def scenario(**changes) -> CapacityScenario:
    fields = dict(
        name="cap", kind="capacity", start_rate=6.0, max_rate=512.0, precision=0.1,
        duration=10, budget=600, prompt_tokens=16, output_tokens=8, seed=1, slo=SLO,
    )  # fmt: skip
    return CapacityScenario(**{**fields, **changes})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


Model = Callable[[float], dict]  # rate -> good share, lag share, errors, gauges; per probe


def knee(at: float, below: float = 1.0, above: float = 0.5, **gauges) -> Model:
    """A stack that meets the SLO for `below` of its requests up to `at` req/s, `above` past it."""
    return lambda rate: {"good": below if rate <= at else above, **gauges}


def drive(search: capacity.Search, place: Path, model: Model, clock: Clock) -> list[float]:
    """Run the search's levels against the model: each level's requests go to requests.csv and
    its figures come from the lab's own summary, as the scenario runner does. Each step takes
    its duration and three seconds more."""
    tried = []
    rows: list[dict] = []
    for level in search:
        rate = level.rate
        assert rate is not None and level.name == f"rate{rate:g}" + "-again" * (rate in tried)
        said = model(rate)
        good = round(said["good"] * REQUESTS)
        late = round(said.get("late", 0.0) * REQUESTS)
        failed = round(said.get("errors", 0.0) * REQUESTS)
        for i in range(REQUESTS):
            bad = i >= REQUESTS - failed
            rows.append(
                row(
                    start_time=1000 * len(tried) + i / rate,
                    level=level.name,
                    ttft_ms=10,
                    e2e_ms=100,
                    slo_ok=int(i < good and not bad),
                    lag_ms=500 if i < late else 1,
                    status="error" if bad else "ok",
                )
            )
        if "cpu" in said:  # the Locust process's own CPU, as it logs it over the level
            begin = 1000 * len(tried)
            write_cpu(place / level.name / CPU_FILE, begin, begin + REQUESTS / rate, said["cpu"])
        samples = summary.read_samples(write_samples(place / "requests.csv", rows))
        figures = summary.summarize([s for s in samples if s.level == level.name])
        gauges = ("mean_waiting", "max_kv_cache_usage")
        search.figures[level.name] = figures | {k: said.get(k) for k in gauges}  # type: ignore[index]
        clock.now += level.run_time + 3
        tried.append(rate)
    return tried


def write_cpu(path: Path, start: float, end: float, cores: float) -> None:
    """client_cpu.csv of one process using `cores` of a core, sampled each second."""
    path.parent.mkdir(parents=True, exist_ok=True)
    times = range(int(start) - 1, int(end) + 2)
    rows = [
        {"time": t, "process": "locust", "cpu_s": cores * (t - start), "wait_s": ""} for t in times
    ]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CPU_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def search_of(s: CapacityScenario, place: Path, clock: Clock) -> capacity.Search:
    return capacity.Search(s, place, {}, clock)


def test_doubling_then_bisection_to_the_stated_precision(tmp_path) -> None:
    clock = Clock()
    search = search_of(scenario(), tmp_path, clock)
    tried = drive(search, tmp_path, knee(21), clock)
    # 6 and 12 pass, 24 fails; then geometric midpoints on three significant digits.
    assert tried == [6, 12, 24, 17, 20.2, 22]
    result = search.result()
    assert result["capacity_rps"] == 20.2
    assert result["bracket"] == {"pass_rps": 20.2, "fail_rps": 22}
    assert result["within_precision"] and result["stopped"] == "precision reached"
    assert result["interval"]["low_rps"] == 20.2 and result["interval"]["high_rps"] == 22
    assert result["interval"]["scope"].startswith("within-run only")
    assert result["statement"].startswith("capacity 20.2 req/s (bracket 20.2 to 22, within 10%")
    assert result["limit"] == "engine latency" and result["limit_rps"] == 22
    assert [step["passed"] for step in result["steps"]] == [True, True, False, True, True, False]
    assert result["elapsed_s"] == 6 * 13


def test_a_first_level_that_fails_halves_the_rate_until_one_passes(tmp_path) -> None:
    clock = Clock()
    search = search_of(scenario(start_rate=8), tmp_path, clock)
    assert drive(search, tmp_path, knee(3), clock) == [8, 4, 2, 2.83, 3.36, 3.08]
    assert search.result()["bracket"] == {"pass_rps": 2.83, "fail_rps": 3.08}


def test_a_search_cut_short_by_its_budget_says_so_and_keeps_its_bracket(tmp_path) -> None:
    clock = Clock()
    # The first step is assumed to take its duration and 5 s; later ones, the longest so far.
    search = search_of(scenario(budget=45), tmp_path, clock)
    assert drive(search, tmp_path, knee(21), clock) == [6, 12, 24]
    result = search.result()
    assert result["stopped"] == "time budget spent" and not result["within_precision"]
    assert result["capacity_rps"] == 12 and result["bracket"]["fail_rps"] == 24
    assert "not within 10%; time budget spent" in result["statement"]


def test_a_stack_that_meets_the_slo_at_max_rate_is_at_least_that(tmp_path) -> None:
    clock = Clock()
    search = search_of(scenario(max_rate=20), tmp_path, clock)
    assert drive(search, tmp_path, knee(100), clock) == [6, 12, 20]
    result = search.result()
    assert result["capacity_rps"] is None and result["capacity_at_least_rps"] == 20
    assert result["stopped"] == "max_rate met the SLO" and result["limit"] is None


def test_a_generator_behind_its_schedule_stops_the_search_with_a_lower_bound(tmp_path) -> None:
    """At 24 req/s the SLO held, but 30% of requests were sent late: the generator, not the
    stack, was the limit, and 24 is not claimed."""
    clock = Clock()
    search = search_of(scenario(), tmp_path, clock)
    behind = lambda rate: {"good": 1.0, "late": 0.3 if rate >= 24 else 0.0}  # noqa: E731
    assert drive(search, tmp_path, behind, clock) == [6, 12, 24]
    result = search.result()
    assert result["client_limited"] and result["capacity_rps"] is None
    assert result["stopped"] == "load generator could not offer more"
    assert result["limit"] == "load generator" and result["limit_rps"] == 24
    assert result["limit_detail"] == summary.client_limit(  # the rule every level is judged by
        [s for s in summary.read_samples(tmp_path / "requests.csv") if s.level == "rate24"], []
    )
    assert result["limit_detail"].startswith("30% of requests left over 100 ms after")
    sent = result["steps"][-1]["sent_rps"]
    assert sent == pytest.approx(24, rel=0.01)  # what it did send, on time or not
    assert result["capacity_at_least_rps"] == sent
    assert result["statement"].startswith(f"capacity at least {sent:g} req/s: the load generator")


def test_late_requests_on_a_level_that_failed_are_the_stacks_doing(tmp_path) -> None:
    """A stack too slow for the rate keeps every user busy, so requests go out late: that level
    failed the SLO, and the search goes on."""
    clock = Clock()
    search = search_of(scenario(), tmp_path, clock)
    slow = lambda rate: {"good": 1.0 if rate <= 21 else 0.2, "late": 0.0 if rate <= 21 else 0.6}  # noqa: E731
    assert drive(search, tmp_path, slow, clock) == [6, 12, 24, 17, 20.2, 22]
    assert not search.result()["client_limited"]


def test_a_saturated_generator_cpu_stops_the_search(tmp_path) -> None:
    clock = Clock()
    search = search_of(scenario(), tmp_path, clock)
    busy = lambda rate: {"good": 1.0, "cpu": 0.95 if rate >= 12 else 0.3}  # noqa: E731
    assert drive(search, tmp_path, busy, clock) == [6, 12]
    result = search.result()
    assert result["capacity_at_least_rps"] == pytest.approx(12, rel=0.01)
    assert result["limit_detail"] == "locust used 0.95 of a core (bound 0.9)"
    assert result["steps"][-1]["client_cpu_busiest"] is None  # figures the model left out


@pytest.mark.parametrize(
    ("gauges", "limit", "detail"),
    [
        ({"errors": 0.05}, "errors", "error rate 5.0% above 1.0%"),
        ({"max_kv_cache_usage": 0.97}, "KV cache", "KV-cache usage reached 97%"),
        ({"mean_waiting": 3.0}, "engine queue", "3.0 requests waiting in the engines on average"),
        ({}, "engine latency", "slower than the SLO"),
    ],
)
def test_the_first_limit_reached_is_named(tmp_path, gauges, limit, detail) -> None:
    """The limit shows from 17 req/s on: below the first failure (24), at a level that passed."""
    clock = Clock()
    search = search_of(scenario(), tmp_path, clock)

    def model(rate: float) -> dict:
        shown = gauges if rate >= 17 else {}
        return {"good": 1.0 if rate <= 21 else 0.5, **shown}

    if "errors" in gauges:  # errors fail a level by themselves
        model = lambda rate: {"good": 1.0, **(gauges if rate >= 17 else {})}  # noqa: E731
    drive(search, tmp_path, model, clock)
    result = search.result()
    assert result["limit"] == limit and detail in result["limit_detail"]
    assert result["limit_rps"] == (22 if limit == "engine latency" else 17)


def test_a_boundary_verdict_that_noise_could_turn_widens_the_interval(tmp_path) -> None:
    """At 20.2 req/s exactly 90% of the requests met the SLO: a pass, but resampling turns it
    half the time. Probed again, it is still a toss (90% of 400 requests), so the interval's
    lower end falls back to 17, the next sure pass."""
    clock = Clock()
    search = search_of(scenario(), tmp_path, clock)
    edge = lambda rate: {"good": 1.0 if rate < 20 else 0.9 if rate < 21 else 0.5}  # noqa: E731
    assert drive(search, tmp_path, edge, clock) == [6, 12, 24, 17, 20.2, 20.2, 22]
    result = search.result()
    assert result["bracket"] == {"pass_rps": 20.2, "fail_rps": 22}
    first, again = (s for s in result["steps"] if s["rate"] == 20.2)
    assert (first["level"], first["probe"]) == ("rate20.2", 1)
    assert (again["level"], again["probe"]) == ("rate20.2-again", 2)
    assert 0.2 < first["confidence"] < 0.8 and 0.2 < again["confidence"] < 0.8
    assert result["interval"]["low_rps"] == 17 and result["interval"]["high_rps"] == 22


def test_an_unsure_step_is_probed_again_and_judged_on_both_probes(tmp_path) -> None:
    """At 22 req/s the first probe's 88% of good requests fails the 90% SLO, a verdict that
    resamples turn often. The second probe's 96% makes 92% of the 400 requests together: 22
    passes, within 10% of the failure at 24. Sure verdicts are never probed again."""
    clock = Clock()
    search = search_of(scenario(), tmp_path, clock)
    probes: dict[float, int] = {}

    def toss(rate: float) -> dict:
        probes[rate] = probes.get(rate, 0) + 1
        if rate < 21:
            return {"good": 1.0}
        if rate < 23:
            return {"good": 0.88 if probes[rate] == 1 else 0.96}
        return {"good": 0.5}

    assert drive(search, tmp_path, toss, clock) == [6, 12, 24, 17, 20.2, 22, 22]
    result = search.result()
    first, again = (s for s in result["steps"] if s["rate"] == 22)
    assert not first["passed"] and first["attainment"] == 0.88 and first["confidence"] < 0.9
    assert again["passed"] and again["attainment"] == pytest.approx(0.92)
    assert again["level"] == "rate22-again" and again["probe"] == 2
    assert result["bracket"] == {"pass_rps": 22, "fail_rps": 24}
    assert result["capacity_rps"] == 22 and result["within_precision"]
    assert result["limit"] == "engine latency" and result["limit_rps"] == 24
    # Both probes are levels of their own in requests.csv, each with its own figures.
    recorded = summary.read_samples(tmp_path / "requests.csv")
    assert sum(s.level == "rate22" for s in recorded) == REQUESTS
    assert sum(s.level == "rate22-again" for s in recorded) == REQUESTS
    assert set(search.figures) == {step["level"] for step in result["steps"]}


def test_capacity_levels_have_users_for_twice_what_the_slo_lets_be_in_flight() -> None:
    # TTFT 500 ms + 7 tokens * 50 ms = 850 ms a request at most: 2 * 20 * 0.85 = 34 users.
    level = capacity_kind.level(scenario(), 20.0)
    assert (level.name, level.users, level.rate, level.run_time) == ("rate20", 34, 20.0, 10)
    assert capacity_kind.level(scenario(), 20.0, again=True).name == "rate20-again"
    assert level.options["--lab-rate"] == "20.0"
    assert capacity_kind.users_for(20.0, scenario(slo=Slo(100, None, None, 0.9, 0.0))) == 400


# Against a simulated engine behind the real vllm-router.

# 12 batch slots, 100 ms to the first token, then 8 more 50 ms apart: each request holds a
# slot 0.5 s, so the engine serves 12 / 0.5 = 24 requests/s at most (the estimate
# max_batch / (ttft + tokens * tpot) says 12 / 0.55 = 21.8: the first token needs no TPOT).
SIM = "engine.simulated={ttft_ms: 100, tpot_ms: 50, max_batch: 12}"
SERVICE_RATE = 12 / (0.100 + 8 * 0.050)
SIM_SLO = "{ttft_ms: 600, tpot_ms: 60}"  # 500 ms of queueing allowed before the first token


def capacity_profile(write, **fields) -> Path:
    """One engine; the engine's timing comes with the stack (sim_stack's `simulated`). Within
    20%: four steps (15, 30, 21.2, 25.2) land in the window the search test holds the bracket
    to; a fifth step would narrow it further than the test asks (the bisection to a stated
    precision has its own tests above), at six seconds of load more."""
    settings = {"start_rate": 15, "precision": 0.2, "duration": 6, "budget": 150,
                "prompt_tokens": 16, "output_tokens": 9, "seed": 1, **fields}  # fmt: skip
    text = ", ".join(f"{k}: {v}" for k, v in settings.items())
    return write("sim.yaml", f"name: sim\nengine: {{replicas: 1}}\nslo: {SIM_SLO}\n"
                 f"scenarios: [{{name: capacity, kind: capacity, {text}}}]\n")  # fmt: skip


# The simulated engine's service rate is its clock: beside other workers on two cores it served
# 10.6 requests/s of its 24, and the bracket missed.
@pytest.mark.timing
@pytest.mark.slow  # a whole search, alone on the machine; the modelled tests above are fast
def test_the_search_finds_the_simulated_engines_service_rate(write, tmp_path) -> None:
    path = capacity_profile(write)
    with sim_stack(tmp_path / "state", name=str(path), simulated=SIM) as (platform, current):
        lab = profile.load(path, [SIM])
        folder = scenarios.run(lab, current, [], tmp_path / "results", platform)
    place = folder / "capacity"
    written = json.loads((place / "summary.json").read_text())
    result = written["capacity"]
    assert not result["client_limited"], result["statement"]
    low, high = result["bracket"]["pass_rps"], result["bracket"]["fail_rps"]
    # Poisson arrivals queue a little below the service rate; past it the queue grows.
    assert 0.8 * SERVICE_RATE <= low < high <= 1.25 * SERVICE_RATE, result["statement"]
    assert result["within_precision"] or result["stopped"] == "time budget spent"
    assert result["capacity_rps"] == low and result["limit"] == "engine queue"
    # Every step is a level of its own, in requests.csv and the summary.
    names = [step["level"] for step in result["steps"]]
    assert list(written["levels"]) == names and len(names) >= 3
    with (place / "requests.csv").open(newline="") as file:
        recorded = list(csv.DictReader(file))
    assert {r["level"] for r in recorded} == set(names)
    # The Locust user judged every request by vLLM's rule; drained ones are left unjudged.
    for r in recorded:
        tpot = 0.0 if int(r["output_tokens"] or 0) <= 1 else float(r["tpot_ms"] or "inf")
        good = r["status"] == "ok" and float(r["ttft_ms"]) <= 600 and tpot <= 60
        assert r["slo_ok"] == ("" if r["phase"] == "drain" else str(int(good)))
    # The engine's gauges, once a second, every level; its queue at the failing levels.
    rows = series.read(place / series.FILE)
    assert {r["level"] for r in rows} == set(names)
    assert {(r["source"], r["metric"]) for r in rows} >= {
        ("engine-0", "running"), ("engine-0", "waiting"), ("engine-0", "kv_cache_usage"),
    }  # fmt: skip
    # The first failing rate's probe that failed (a rate probed twice fails on both together,
    # so on at least one of them).
    failing = next(
        written["levels"][step["level"]]
        for step in result["steps"]
        if step["rate"] == high and not written["levels"][step["level"]]["slo_met"]
    )
    assert failing["max_waiting"] > 0 and failing["max_running"] == 12
    # The load generator's CPU, from its own process, every step: the one rule judged it.
    assert all(written["levels"][n]["client_processes"] == 1 for n in names)
    assert [s["client_cpu_busiest"] for s in result["steps"]] == [
        written["levels"][n]["client_cpu_busiest"] for n in names
    ]
    assert failing["slo_met"] is False and 0 < failing["goodput_rps"] < high
    page = (folder / "report.html").read_text()
    assert result["statement"] in page
    assert page.count("data:image/png;base64,") >= 6  # rate plots and the engine queues


def test_a_held_back_generator_is_reported_from_its_measured_lag(
    write, tmp_path, monkeypatch
) -> None:
    """Two users can send at most 4 requests/s to an engine that takes 0.5 s a request: asked
    for 12, the generator falls behind. The search knows it from the requests' lag alone."""
    monkeypatch.setattr(capacity_kind, "users_for", lambda rate, s: 2)
    without_report(monkeypatch)
    path = capacity_profile(write, start_rate=12, duration=5)
    unbatched = "engine.simulated={ttft_ms: 100, tpot_ms: 50}"
    with sim_stack(tmp_path / "state", name=str(path), simulated=unbatched) as (platform, current):
        lab = profile.load(path, [unbatched])
        folder = scenarios.run(lab, current, [], tmp_path / "results", platform)
    result = json.loads((folder / "capacity" / "summary.json").read_text())["capacity"]
    assert result["client_limited"] and result["capacity_rps"] is None
    assert result["limit"] == "load generator"
    (step,) = result["steps"]
    assert step["passed"] and step["late_share"] > 0.5
    assert step["sent_rps"] == pytest.approx(4, rel=0.3)
    assert result["statement"].startswith("capacity at least ")
    said = f"the load generator could not offer more (12 req/s asked, {step['sent_rps']:.3g} sent)"
    assert result["statement"].endswith(said)
