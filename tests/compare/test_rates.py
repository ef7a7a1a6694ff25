"""Error rates judged by their counts (Fisher's exact test), so that a stack whose every
request failed fails the gate; and rates' detectable change capped at what a rate can move."""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.compare import comparison, estimates, outcomes, rates, report, runsets, stats
from lab.compare import metrics as compare_metrics
from lab.compare import run as compare_run
from lab.compare.metrics import LevelData
from lab.compare.outcomes import BETTER, NA, SAME, WORSE
from tests.helpers.rendering import without_page
from tests.helpers.runs import PA, PA1, PA2, RR, RR1, RR2, copy, edit_manifest, edit_requests
from tests.helpers.samples import row, write_samples

LEVELS = ("routing", "c1", "c4", "rate4")
DEAD = "B had no successful request"


@pytest.fixture(autouse=True)
def no_page(monkeypatch) -> None:
    without_page(monkeypatch)


def rows(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (folder / "compare.csv").open(newline="") as file:
        return {(r["level"], r["metric"]): r for r in csv.DictReader(file)}


def gate(a: Path, b: Path, out: Path) -> int:
    return main(["compare", str(a), str(b), "--fail-on-regression", "--out", str(out)])


def all_failed(run: Path, to: Path) -> Path:
    """A copy of the run with the status of every request set to error."""
    copy(run, to)
    edit_requests(to, lambda found: [r | {"status": "error"} for r in found])
    return to


def copies(run: Path, folder: Path, count: int = 3) -> Path:
    """A folder of `count` copies of the run: repeated runs whose figures agree exactly."""
    for i in range(count):
        copy(run, folder / f"{i}-{run.name}")
    return folder


def one_level(to: Path, requests: int, failed: int) -> Path:
    """A run of one throughput level, c1, of `requests` requests arriving four a second at
    random (at the same times in every such run), every twentieth of the first 20 × `failed`
    failed."""
    copy(RR1, to)
    starts = 1000 + np.cumsum(np.random.default_rng(7).exponential(0.25, requests))

    def only_c1(manifest: dict) -> None:
        manifest["scenarios"] = [
            s | {"levels": ["c1"]} for s in manifest["scenarios"] if s["name"] == "throughput"
        ]

    edit_manifest(to, only_c1)
    made = []
    for i, start in enumerate(starts):
        engine = f"engine-{i % 2}"
        if i % 20 == 0 and i < 20 * failed:
            made.append(row(start_time=start, level="c1", engine=engine, status="error"))
            continue
        made.append(
            row(start_time=start, level="c1", engine=engine, ttft_ms=20 + i % 7,
                tpot_ms=5 + i % 3, e2e_ms=40 + i % 11, itl_ms="5;5;5")
        )  # fmt: skip
    write_samples(to / "throughput" / "requests.csv", made)
    return to


def test_a_stack_whose_every_request_failed_fails_the_gate_at_every_level(tmp_path, capsys) -> None:
    """B: the recorded run with every request failed, so no latency of B is measured (n/a,
    which never fails a gate) and a bootstrap of its failures has no spread. Its error rate is
    worse at every level, by Fisher's test on the counts (the routing level counts its 8
    conversations: p = 1/C(16, 8)), and by the rule that a side with no successful request is
    the worse one; as folders of three copies a side too."""
    dead = all_failed(RR1, tmp_path / "dead")
    assert gate(RR1, dead, tmp_path / "single") == outcomes.REGRESSION
    said = capsys.readouterr().out
    found = rows(tmp_path / "single")
    for level in LEVELS:
        errors = found[level, "error_rate"]
        assert (errors["verdict"], errors["reason"]) == (WORSE, DEAD)
        assert (errors["a"], errors["b"], errors["test"]) == ("0", "1", rates.TEST)
        scenario = "routing" if level == "routing" else "throughput"
        assert f"{scenario}/{level} error_rate" in said
        assert found[level, "ttft_p50"]["verdict"] == NA
    assert "+100.0…+100.0" not in said  # no spread known: no interval shown
    routing = found["routing", "error_rate"]
    assert float(routing["p_value"]) == pytest.approx(1 / math.comb(16, 8))
    assert routing["units"].endswith("Fisher: A 0 of 8, B 8 of 8 failed")
    folders = copies(RR1, tmp_path / "A"), copies(dead, tmp_path / "B")
    assert gate(*folders, tmp_path / "folders") == outcomes.REGRESSION
    pooled = rows(tmp_path / "folders")["routing", "error_rate"]
    assert pooled["verdict"] == WORSE and pooled["test"] == rates.TEST
    assert pooled["noise"] == "counts pooled over A's 3 and B's 3 runs (no spread between runs)"


@pytest.mark.parametrize(
    ("requests", "failed", "status", "p"),
    [(400, 20, outcomes.REGRESSION, 7.476e-7), (40, 2, outcomes.OK, 0.2468)],
)
def test_a_single_runs_error_rate_is_judged_by_fishers_exact_test(
    tmp_path, requests, failed, status, p
) -> None:
    """20 failed of 400 against none: one-sided p = C(400, 20) / C(800, 20) ≈ 7e-7, worse; 2
    of 40 against none: p = C(40, 2) / C(80, 2) ≈ 0.25, not worse (5 points either way, the
    floor of single runs). As folders of three copies a side, whose per-run rates have no
    spread, each side's counts are pooled: 60 of 1200 against none is worse, 6 of 120
    (p = 0.015) is not after Holm over the level's six gated tests."""
    a, b = one_level(tmp_path / "a", requests, 0), one_level(tmp_path / "b", requests, failed)
    assert gate(a, b, tmp_path / "single") == status
    errors = rows(tmp_path / "single")["c1", "error_rate"]
    assert float(errors["p_value"]) == pytest.approx(p, rel=1e-3)
    assert errors["test"] == rates.TEST and errors["noise"] == comparison.WITHIN_ONLY
    assert errors["verdict"] == (WORSE if status else SAME) and errors["reason"] == ""
    assert (
        errors["units"] == f"requests; Fisher: A 0 of {requests}, B {failed} of {requests} failed"
    )
    folders = copies(a, tmp_path / "A"), copies(b, tmp_path / "B")
    assert gate(*folders, tmp_path / "folders") == status
    pooled = rows(tmp_path / "folders")["c1", "error_rate"]
    assert pooled["test"] == rates.TEST and pooled["verdict"] == errors["verdict"]
    assert pooled["units"] == (
        f"runs: 3 vs 3; Fisher: A 0 of {3 * requests}, B {3 * failed} of {3 * requests} failed"
    )


def test_a_side_with_no_successful_request_is_worse_whatever_the_test_says() -> None:
    """One request a side, A's answered and B's failed: Fisher's p is 0.5, far from
    significant, yet a stack that answered nothing must never pass; and the other way round,
    B is better."""
    unit = runsets.Unit("throughput", "throughput", "c1")
    options = compare_run.options(["error_rate"], [], [])
    metric = compare_metrics.BY_NAME["error_rate"]

    def side(rate: float) -> list[estimates.LevelFigures]:
        found = stats.Estimate(rate, rate, None, 1, (int(rate), 1))
        return [estimates.LevelFigures({"error_rate": found}, {"errors": "requests"})]

    for a, b, expected in ((0.0, 1.0, WORSE), (1.0, 0.0, BETTER)):
        assessed = comparison.assess(unit, metric, side(a), side(b), options)
        (judged,) = comparison.judge([assessed], options)
        assert judged.p == pytest.approx(0.5) and not judged.significant
        dead = "B" if expected == WORSE else "A"
        assert judged.verdict == outcomes.Verdict(expected, f"{dead} had no successful request")


def test_a_noise_profile_whose_rates_drifted_keeps_the_t_test() -> None:
    """Single runs with a noise profile: where the profile's runs' error rates differed, the
    t-test carries that drift; where they did not, the counts are judged."""
    metric = compare_metrics.BY_NAME["error_rate"]
    a, b = (
        [stats.Estimate(0.0, 0.0, 0.0, 400, (0, 400))],
        [stats.Estimate(0.05, 0.05, 1e-4, 400, (20, 400))],
    )
    drifted, steady = stats.Source("profile", 4e-4, 1e-4, 9), stats.Source("profile", 0, 0, 9)
    tested = stats.difference(a, b, [drifted], log=False)
    assert rates.judged(metric, tested, a, b, [drifted]) == (tested, "")
    exact, said = rates.judged(metric, stats.difference(a, b, [steady], log=False), a, b, [steady])
    assert exact.exact and exact.p_up == pytest.approx(7.476e-7, rel=1e-3)
    assert said == "Fisher: A 0 of 400, B 20 of 400 failed"


def test_a_conversation_fails_when_any_of_its_requests_does() -> None:
    """Three failures in one conversation of the routing level's eight: one unit of eight
    failed for the count, while the error rate stays a share of the 40 requests."""
    level = runsets.load_run(RR1).scenarios["routing"].levels["routing"]
    session = level.samples[0].session
    failing = [s for s in level.samples if s.session == session][:3]
    broken = LevelData([replace(s, ok=False) if s in failing else s for s in level.samples])
    measure, word = compare_metrics.measure("errors", broken, True)
    (found,) = stats.estimates(measure, False, 100, np.random.default_rng(0))
    assert isinstance(found, stats.Estimate) and word == "conversations"
    assert found.counts == (1, 8) and found.value == pytest.approx(3 / 40)


def test_a_rates_detectable_change_is_capped_at_what_it_can_move() -> None:
    """From 90% a rate can move 90 points (down): a reach beyond is not detectable here."""
    hit = compare_metrics.BY_NAME["prefix_cache_hit_rate"]
    assert rates.capped(hit, 0.9, 80.0) == 80.0
    assert rates.capped(hit, 0.9, 90.5) == math.inf
    assert rates.capped(hit, 0.2, 80.5) == math.inf  # from 20%: 80 points (up)
    assert rates.capped(compare_metrics.BY_NAME["ttft_p50"], 0.9, 300.0) == 300.0
    unit = runsets.Unit("routing", "routing", "routing")
    capped = comparison.Row(
        unit, hit, True, None, 5.0, outcomes.Verdict(SAME), False, False, None, None, "", 1, 1,
        reach=math.inf,
    )  # fmt: skip
    assert report.seen(capped) == report.NOT_DETECTABLE == "not detectable at this size"
    assert report.csv_row(capped, 0.05)["detectable_pct"] == "inf"


@pytest.fixture
def figures_once(monkeypatch) -> None:
    """Each run's figures computed once for all the comparisons of a test (they are seeded by
    the run and level, so the same in every comparison)."""
    made: dict[tuple, estimates.LevelFigures] = {}
    real = estimates.run_figures

    def once(run, unit, metrics, hits, n_boot) -> estimates.LevelFigures:
        key = (run.folder, unit, tuple(metrics), hits, n_boot)
        if key not in made:
            made[key] = real(run, unit, metrics, hits, n_boot)
        return made[key]

    monkeypatch.setattr(estimates, "run_figures", once)


def test_every_recorded_pair_passes_but_a_warm_cache_against_a_cold_one(figures_once) -> None:
    """Every ordered pair of the recorded runs, and the two folders against each other: the gate
    fails only where A ran second on its engines (prefix cache warm from the run before) and B
    first (cold), on the routing level's hit rate, a real difference; no error rate moves, and
    no rate's detectable change is beyond 100 points."""
    options = compare_run.options([], [], [], fail_on_regression=True)
    sides = {path: runsets.load(path) for path in (RR1, RR2, PA1, PA2, RR, PA)}
    warm_to_cold = {(RR2, RR1), (RR2, PA1), (PA2, RR1), (PA2, PA1)}
    for a, b in [*itertools.permutations((RR1, RR2, PA1, PA2), 2), (RR, PA), (PA, RR)]:
        result = comparison.compare(sides[a], sides[b], options)
        failed = [(r.unit.level, r.metric.name) for r in result.regressions]
        assert failed == ([("routing", "prefix_cache_hit_rate")] if (a, b) in warm_to_cold else [])
        assert result.status() == (outcomes.REGRESSION if failed else outcomes.OK)
        assert {r.verdict.word for r in result.rows if r.metric.name == "error_rate"} == {SAME}
        reaches = [r.reach for r in result.rows if r.metric.rate and r.reach is not None]
        assert reaches and all(r <= 100 or math.isinf(r) for r in reaches)
