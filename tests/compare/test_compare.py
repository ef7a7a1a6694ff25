"""`lab compare` on real recorded runs (tests/data/compare: the cpu profile's routing and
throughput scenarios, two runs under roundrobin and two under prefixaware, real engines)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.compare import comparison, gate, outcomes, runsets, stats
from lab.compare import metrics as compare_metrics
from lab.compare import run as compare_run
from lab.compare.outcomes import BETTER, INCONCLUSIVE, NA, SAME, WORSE
from tests.helpers.rendering import without_page
from tests.helpers.runs import (
    PA,
    PA1,
    PA2,
    QUIET,
    RR,
    RR1,
    RR2,
    copy,
    drifted,
    edit_csv,
    edit_manifest,
    scaled,
    slow_ttft,
)
from tests.helpers.samples import judge, write_samples

UNITS = [
    ("routing", "routing"),
    ("throughput", "c1"),
    ("throughput", "c4"),
    ("throughput", "rate4"),
]


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "compare.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def row(found: list[dict[str, str]], level: str, metric: str) -> dict[str, str]:
    (hit,) = [r for r in found if r["level"] == level and r["metric"] == metric]
    return hit


@pytest.fixture(scope="module")
def itself(tmp_path_factory) -> tuple[int, Path]:
    """A run compared with itself, every metric, gated."""
    out = tmp_path_factory.mktemp("self") / "out"
    code = main(["compare", str(RR1), str(RR1), "--fail-on-regression", "--out", str(out)])
    return code, out


def test_a_run_against_itself_changes_nothing_and_passes_the_gate(itself) -> None:
    code, out = itself
    assert code == outcomes.OK
    found = rows(out)
    measured = [r for r in found if r["verdict"] != NA]
    assert measured and all(float(r["change"]) == 0 for r in measured)
    assert all(float(r["p_value"]) == 1 for r in measured if r["p_value"])
    assert {r["verdict"] for r in found} == {SAME, NA}
    rounds = ("ttft_first_round_p50", "ttft_later_rounds_p50")
    na = {(r["metric"], r["reason"]) for r in found if r["verdict"] == NA}
    assert na - {(m, "no TTFT recorded") for m in rounds} == {
        ("session_stickiness", "no sessions"),  # the first recorded run kept no session
        ("slo_attainment", compare_metrics.NO_SLO),  # nor judged its requests by an SLO
        ("goodput_rps", compare_metrics.NO_SLO),
    }
    # Conversation rounds exist in the routing scenario only.
    assert not [r for r in found if r["verdict"] == NA and r["metric"] in rounds
                and r["level"] == "routing"]  # fmt: skip


def test_outputs_exist_with_one_csv_row_per_level_and_metric(itself) -> None:
    _, out = itself
    assert {p.name for p in out.iterdir()} == {"compare.csv", "compare.md", "compare.html"}
    found = rows(out)
    keys = [(r["scenario"], r["level"], r["metric"]) for r in found]
    per_level = [m for m in compare_metrics.METRICS if m.per_level]  # capacity_rps: a search's
    assert len(keys) == len(set(keys)) == len(UNITS) * len(per_level)
    assert {(s, lv) for s, lv, _ in keys} == set(UNITS)
    page = (out / "compare.html").read_text()
    assert page.count("data:image/png;base64,") == 2 * len(UNITS)  # a CDF and intervals each
    text = (out / "compare.md").read_text()
    assert "## throughput/c4" in text and "**✅ no gated regression**" in text


def test_gated_and_not_gated_metrics_are_told_apart(itself) -> None:
    _, out = itself
    found = rows(out)
    gated = {(r["level"], r["metric"]) for r in found if r["gated"] == "True"}
    defaults = ["ttft_p50", "ttft_p90", "tpot_p50", "e2e_p90", "output_tokens_per_s", "error_rate"]
    assert gated == {(lv, m) for _, lv in UNITS for m in defaults} | {
        ("routing", "prefix_cache_hit_rate"),
        ("routing", "session_stickiness"),
    }
    text = (out / "compare.md").read_text()
    assert "| TTFT p50 | gated |" in text and "| TTFT p99 | not gated |" in text
    assert "Holm at alpha 0.05" in text and "Run-to-run noise: unknown" in text


def test_prefixaware_routing_did_not_raise_the_hit_rate_in_these_recordings(
    tmp_path, monkeypatch
) -> None:
    """What the recorded data show, stated as it is: vllm-router 0.1.17's cache_aware policy
    spread the routing scenario's concurrent conversations over both engines as round-robin
    did (20/20, no stickiness), so the hit rate did not change between configurations."""
    without_page(monkeypatch)
    for n, (a, b) in enumerate([(RR1, PA1), (RR2, PA2)]):
        out = tmp_path / str(n)
        args = ["compare", str(a), str(b), "--metrics", "prefix_cache_hit_rate", "--out", str(out)]
        assert main(args) == 0
        hit = row(rows(out), "routing", "prefix_cache_hit_rate")
        assert hit["verdict"] == SAME and hit["significant"] == "False"
        assert abs(float(hit["change"])) < 0.02


def test_a_warm_prefix_cache_is_a_significant_better_hit_rate(tmp_path, monkeypatch) -> None:
    """The second run on the same engines finds the shared prompts cached by the first: a real
    hit-rate change of about +20 points, beyond the 5-point floor of single runs."""
    without_page(monkeypatch)
    out = str(tmp_path / "o")
    args = ["compare", str(RR1), str(RR2), "--metrics", "prefix_cache_hit_rate", "--out", out]
    assert main(args) == 0
    hit = row(rows(tmp_path / "o"), "routing", "prefix_cache_hit_rate")
    assert hit["verdict"] == BETTER and hit["significant"] == "True" and hit["gated"] == "True"
    assert float(hit["ci_low"]) > 0.05 and float(hit["p_adjusted"]) < 0.001
    assert hit["units"] == "conversations (cached / prompt tokens)"  # resampled whole
    assert hit["noise"] == "within-run only"


def test_one_side_by_side_repetition_is_judged_as_single_runs_are(
    tmp_path, capsys, monkeypatch
) -> None:
    """Side by side, the machine's drift falls on both arms, but each arm's own queueing does not
    (docs/measurements/ab-side-by-side.md: real trials with +20% TTFT on B found the routing
    level's TTFT p90 at -29% to +294%, most intervals leaving +20% out): one repetition claims
    no more than one run a side, so TTFT three times as long is inconclusive, not worse, and the
    gate passes."""
    without_page(monkeypatch)
    a = copy(RR1, tmp_path / "A" / RR1.name)
    b = slow_ttft(copy(RR1, tmp_path / "B" / RR1.name), 3)
    side_by_side(a, "A", 1)
    side_by_side(b, "B", 1)
    out = tmp_path / "o"
    args = ["compare", str(a), str(b), "--metrics", "ttft", "--fail-on-regression"]
    assert main([*args, "--out", str(out)]) == outcomes.OK
    slower = row(rows(out), "c1", "ttft_p50")
    assert slower["verdict"] == INCONCLUSIVE and slower["reason"] == outcomes.NOISE_UNKNOWN
    assert float(slower["change_pct"]) == pytest.approx(200, abs=1)
    assert comparison.SIDE_BY_SIDE in capsys.readouterr().out


def side_by_side(run: Path, arm: str, repetition: int, first: str = "") -> None:
    side = {"design": "concurrent", "arm": arm, "mixed": f"mixed/{repetition}"}
    if first:
        side["first"] = first
    edit_manifest(run, lambda manifest: manifest.update(ab=side))


def test_side_by_side_repetitions_are_pairs_whose_common_drift_cancels(
    tmp_path, monkeypatch
) -> None:
    """Four side-by-side repetitions with the machine up to four times as slow in some (for both
    arms alike), B's TTFT and E2E 50% longer in each: as pairs the drift cancels and the gate
    fails on B; the same runs judged as interleaved ones (unpaired) drown it in the drift."""
    without_page(monkeypatch)
    rng = np.random.default_rng(5)
    for i, drift in enumerate((1.0, 4.0, 2.0, 1.5)):
        a = drifted(QUIET, tmp_path / "A" / f"{i}-{QUIET.name}", drift, rng)
        b = scaled(
            drifted(QUIET, tmp_path / "raw" / str(i), drift, rng), tmp_path / "B" / a.name, 1.5
        )
        side_by_side(a, "A", i)
        side_by_side(b, "B", i)
    args = ["compare", str(tmp_path / "A"), str(tmp_path / "B"), "--metrics", "ttft"]
    assert main([*args, "--fail-on-regression", "--out", str(tmp_path / "paired")]) == 1
    slower = row(rows(tmp_path / "paired"), "c4", "ttft_p50")
    assert slower["verdict"] == WORSE and slower["units"] == "side-by-side repetitions: 4 pairs"
    assert float(slower["ci_low_pct"]) < 50 < float(slower["ci_high_pct"])
    assert slower["noise"].startswith("4 side-by-side repetitions, paired (df 3)")
    # which arm came up first alternating, A B A B: a crossover, its note said
    for side in "AB":
        for i, run in enumerate(sorted((tmp_path / side).iterdir())):
            side_by_side(run, side, i, first="AB"[i % 2])
    assert main([*args, "--fail-on-regression", "--out", str(tmp_path / "crossed")]) == 1
    crossed = row(rows(tmp_path / "crossed"), "c4", "ttft_p50")
    assert crossed["noise"].startswith("4 side-by-side repetitions, paired, AB/BA crossover")
    said = (tmp_path / "crossed" / "compare.md").read_text().replace("\n", " ")
    assert comparison.CROSSOVER.format(went="came up first") in said
    assert "; came up first: A in 2, B in 2 pairs" in said
    # one arm's level n/a in one repetition (its client the limit) drops that pair, not pairing
    (first, *_) = sorted((tmp_path / "B").iterdir())
    figures = first / "throughput" / "summary.json"
    data = json.loads(figures.read_text())
    data["levels"]["c4"]["client_limited"] = "locust used 0.97 of a core (bound 0.9)"
    figures.write_text(json.dumps(data))
    assert main([*args, "--out", str(tmp_path / "three")]) == 0
    three = row(rows(tmp_path / "three"), "c4", "ttft_p50")
    assert three["units"] == "side-by-side repetitions: 3 pairs" and three["n_a"] == "3"
    assert three["noise"].startswith("3 side-by-side repetitions, paired (df 2)")  # A once
    for folder in (tmp_path / "A").iterdir(), (tmp_path / "B").iterdir():
        for run in folder:
            edit_manifest(run, lambda manifest: manifest.pop("ab"))
    assert main([*args, "--fail-on-regression", "--out", str(tmp_path / "unpaired")]) == 0
    assert row(rows(tmp_path / "unpaired"), "c4", "ttft_p50")["verdict"] != WORSE


def test_runs_made_turn_about_are_paired_in_start_order_when_asked(
    tmp_path, capsys, monkeypatch
) -> None:
    """Four A runs and four B runs made turn about (A B A B ...), the machine up to four times as
    slow in some pairs, B's TTFT 50% longer: `--paired` takes run i of each side in the order
    they started (not their folders' order) as a pair, the drift cancels and the gate fails on
    B; unpaired, the drift drowns it. Sides of unequal size are refused before anything is
    written."""
    without_page(monkeypatch)
    rng = np.random.default_rng(5)
    for i, drift in enumerate((1.0, 4.0, 2.0, 1.5)):
        a = drifted(QUIET, tmp_path / "A" / f"run-{i}", drift, rng)
        b = scaled(
            drifted(QUIET, tmp_path / "raw" / str(i), drift, rng),
            tmp_path / "B" / f"run-{3 - i}",
            1.5,
        )
        for run, minute in ((a, 2 * i), (b, 2 * i + 1)):
            started = f"2026-11-28T10:{minute:02d}:00+00:00"
            edit_manifest(run, lambda manifest, at=started: manifest.update(started=at))
    args = ["compare", str(tmp_path / "A"), str(tmp_path / "B"), "--metrics", "ttft"]
    gated = [*args, "--fail-on-regression", "--paired", "--out", str(tmp_path / "paired")]
    assert main(gated) == 1
    slower = row(rows(tmp_path / "paired"), "c4", "ttft_p50")
    assert slower["verdict"] == WORSE
    assert slower["units"] == "turns of A and B in start order: 4 pairs"
    assert float(slower["ci_low_pct"]) < 50 < float(slower["ci_high_pct"])
    said = (tmp_path / "paired" / "compare.md").read_text()
    assert "4 turns of A and B in start order, paired (df 3)" in said
    assert "--paired: run i of A against run i of B in the order they started, 4 pairs" in (
        capsys.readouterr().out.replace("\n", " ")
    )
    assert main([*args, "--fail-on-regression", "--out", str(tmp_path / "unpaired")]) == 0
    assert row(rows(tmp_path / "unpaired"), "c4", "ttft_p50")["verdict"] != WORSE
    # made A B, B A, A B, B A: a drift steady over a pair falls on whichever ran second, and
    # the pairs are judged as a crossover
    for i in (1, 3):
        for run, minute in (
            (tmp_path / "A" / f"run-{i}", 2 * i + 1),
            (tmp_path / "B" / f"run-{3 - i}", 2 * i),
        ):
            started = f"2026-11-28T10:{minute:02d}:00+00:00"
            edit_manifest(run, lambda manifest, at=started: manifest.update(started=at))
    assert main([*gated[:-1], str(tmp_path / "turns")]) == 1
    crossed = row(rows(tmp_path / "turns"), "c4", "ttft_p50")
    assert crossed["noise"].startswith("4 turns of A and B in start order, paired, AB/BA crossover")
    said = (tmp_path / "turns" / "compare.md").read_text().replace("\n", " ")
    assert "; ran first: A in 2, B in 2 pairs" in said
    shutil.rmtree(tmp_path / "B" / "run-0")
    assert main([*args, "--paired", "--out", str(tmp_path / "uneven")]) == 2
    said = capsys.readouterr().err
    assert f"{tmp_path / 'A'} has 4, {tmp_path / 'B'} has 3" in said.replace("\n", "")
    assert not (tmp_path / "uneven").exists()


def test_a_change_beyond_the_floor_fails_the_gate_only_when_asked(
    tmp_path, capsys, monkeypatch
) -> None:
    """A run against its copy with every TTFT twelve times as long: beyond any drift measured
    between unchanged single runs (×5.5), a regression even with run-to-run noise unknown; the
    doubling RR2 → RR1 (a busier machine) is not."""
    without_page(monkeypatch)
    slow = slow_ttft(copy(RR1, tmp_path / "slow"), 12)
    args = ["compare", str(RR1), str(slow), "--metrics", "ttft"]
    assert main([*args, "--out", str(tmp_path / "a")]) == outcomes.OK
    assert main([*args, "--fail-on-regression", "--out", str(tmp_path / "b")]) == 1
    worse = row(rows(tmp_path / "b"), "c1", "ttft_p50")
    assert worse["verdict"] == WORSE and float(worse["change_pct"]) > 1000
    assert float(worse["p_adjusted"]) < 0.05
    assert "gated regression(s): throughput/c1 ttft_p50" in capsys.readouterr().out
    doubled = ["compare", str(RR2), str(RR1), "--metrics", "ttft", "--fail-on-regression"]
    assert main([*doubled, "--out", str(tmp_path / "c")]) == outcomes.OK
    drift = row(rows(tmp_path / "c"), "c1", "ttft_p50")
    assert drift["verdict"] == INCONCLUSIVE and float(drift["change_pct"]) > 100


def test_smaller_changes_of_single_runs_are_inconclusive_without_run_to_run_noise(
    tmp_path, monkeypatch
) -> None:
    """RR2 → RR1 at c1: E2E p50 +88% is significant on the runs' own sampling noise, but two
    runs of one configuration drift that much here: inconclusive, and the gate passes."""
    without_page(monkeypatch)
    out = tmp_path / "o"
    assert main(["compare", str(RR2), str(RR1), "--metrics", "e2e", "--out", str(out)]) == 0
    e2e = row(rows(out), "c1", "e2e_p50")
    assert e2e["verdict"] == INCONCLUSIVE and e2e["reason"] == outcomes.NOISE_UNKNOWN
    assert e2e["significant"] == "True" and 50 < float(e2e["change_pct"]) < 100


def test_repeated_runs_are_compared_with_runs_as_units(tmp_path) -> None:
    out = tmp_path / "o"
    gated = ["--metrics", ",".join(gate.DEFAULT), "--fail-on-regression"]
    assert main(["compare", str(RR), str(PA), *gated, "--out", str(out)]) == 0
    found = [r for r in rows(out) if r["verdict"] != NA]
    assert {r["units"] for r in found} == {"runs: 2 vs 2"}
    assert {(r["n_a"], r["n_b"]) for r in found} == {("2", "2")}
    runs = "A's 2 runs + B's 2 runs (df 2)"
    assert {r["noise"] for r in found if r["df"]} <= {runs, runs + stats.FLOORED}
    assert all(r["verdict"] == SAME for r in found)


def test_a_single_run_against_a_baseline_of_runs_takes_the_noise_from_the_baseline() -> None:
    options = compare_run.options(["ttft_p50"], [], [])
    result = comparison.compare(runsets.load(RR1), runsets.load(PA), options)
    first = result.rows[0]
    assert first.method == "runs: 1 vs 2" and (first.n_a, first.n_b) == (1, 2)
    assert first.change is not None and first.change.noise == "B's 2 runs (df 1)"


def test_without_per_request_cache_figures_the_engine_counters_are_used(tmp_path) -> None:
    a, b = copy(RR1, tmp_path / "a"), copy(RR2, tmp_path / "b")
    for run in (a, b):
        edit_csv(run / "routing" / "requests.csv", lambda r: r | {"cached_tokens": ""})
    options = compare_run.options(["prefix_cache_hit_rate"], [], [])
    result = comparison.compare(runsets.load(a), runsets.load(b), options)
    hit = next(r for r in result.rows if r.unit.level == "routing")
    summary = json.loads((RR1 / "routing" / "summary.json").read_text())["levels"]["routing"]
    assert hit.change is not None and hit.change.p_up is None
    assert hit.change.a == pytest.approx(summary["prefix_cache_hit_rate"])
    assert hit.verdict.word == INCONCLUSIVE
    assert hit.verdict.reason.startswith("one value per run (engine counters): run-to-run noise")
    assert "engine counters" in hit.method


def test_a_side_with_no_measured_request_is_na_and_a_gate_on_nothing_exits_3(
    tmp_path, capsys
) -> None:
    """Every request of B finished while Locust was stopping: nothing of B is measured."""
    b = copy(RR1, tmp_path / "b")
    for scenario in ("routing", "throughput"):
        edit_csv(b / scenario / "requests.csv", lambda r: r | {"phase": "drain"})
    out = tmp_path / "o"
    code = main(["compare", str(RR1), str(b), "--fail-on-regression", "--out", str(out)])
    assert code == outcomes.NOTHING_TO_GATE
    found = rows(out)
    assert {(r["verdict"], r["reason"]) for r in found} == {(NA, outcomes.NO_REQUESTS)}
    said = capsys.readouterr().out
    assert "has no measured request in throughput/c4" in said
    assert "nothing measurable to gate" in said
    assert main(["compare", str(RR1), str(b), "--out", str(tmp_path / "p")]) == 0  # no gate


def test_slo_attainment_and_goodput_are_compared_higher_is_better(tmp_path) -> None:
    """One recorded run judged by a looser SLO (A) and a stricter one (B): at c4, 19 of its 42
    measured requests met A's and 7 met B's (counted by hand), over 17.854 s."""
    a, b = copy(RR1, tmp_path / "a"), copy(RR1, tmp_path / "b")
    for run, limits in ((a, {"ttft_ms": 500, "tpot_ms": 30}), (b, {"ttft_ms": 200, "tpot_ms": 20})):
        requests = run / "throughput" / "requests.csv"
        with requests.open(newline="") as file:
            write_samples(requests, judge(list(csv.DictReader(file)), limits))
    options = compare_run.options(["slo_attainment", "goodput_rps"], [], [])
    result = comparison.compare(runsets.load(a), runsets.load(b), options)
    found = {(r.unit.level, r.metric.name): r for r in result.rows}
    attainment, goodput = found["c4", "slo_attainment"], found["c4", "goodput_rps"]
    assert attainment.change is not None and goodput.change is not None
    assert attainment.change.a == pytest.approx(19 / 42)
    assert attainment.change.b == pytest.approx(7 / 42)
    assert goodput.change.a == pytest.approx(19 / 17.854, rel=1e-4)
    assert goodput.change.b == pytest.approx(7 / 17.854, rel=1e-4)
    # Fewer requests met B's SLO: worse where a verdict is reached, since higher is better.
    assert attainment.metric.higher_is_better and goodput.metric.higher_is_better
    assert {attainment.verdict.word, goodput.verdict.word} <= {WORSE, INCONCLUSIVE}
    routing = found["routing", "slo_attainment"]
    assert (routing.verdict.word, routing.verdict.reason) == (NA, compare_metrics.NO_SLO)


@pytest.mark.parametrize("run", [RR1, RR2, PA1, PA2], ids=lambda p: p.name)
def test_point_figures_are_the_runs_own_summaries(run) -> None:
    """compare measures what the run's summary.json says (same definitions, same data)."""
    keys = {
        "ttft": ("p50_ttft_ms", "p90_ttft_ms", "p99_ttft_ms"),
        "itl": ("p50_itl_ms", "p90_itl_ms", "p99_itl_ms"),
        "e2e": ("p50_e2e_ms", "p90_e2e_ms", "p99_e2e_ms"),
        "throughput": ("requests_per_s", "output_tokens_per_s"),
        "errors": ("error_rate",),
        "hit_rate": ("request_cache_hit_rate",),
        "stickiness": ("session_stickiness",),
        "balance": ("engine_balance",),
    }
    for scenario in runsets.load_run(run).scenarios.values():
        figures = json.loads((run / scenario.name / "summary.json").read_text())["levels"]
        for level, data in scenario.levels.items():
            for family, names in keys.items():
                expected = [figures[level][n] for n in names]
                if expected[0] is None:
                    continue
                measure, _ = compare_metrics.measure(family, data, per_request_hits=True)
                assert stats.point(measure) == pytest.approx(expected, rel=1e-6), (level, family)


def test_an_existing_output_folder_is_never_overwritten(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "compare.md").write_text("mine")
    assert main(["compare", str(RR1), str(RR1), "--out", str(out)]) == 2
    assert (out / "compare.md").read_text() == "mine" and len(list(out.iterdir())) == 1
    assert "exists and is not empty" in capsys.readouterr().err


def test_the_default_output_folder_is_new_under_results(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["compare", str(RR1), str(RR1), "--metrics", "error_rate"]
    assert main(args) == 0 and main(args) == 0
    made = sorted((tmp_path / "results").iterdir())
    assert len(made) == 2
    first, second = made
    assert first.name.startswith("compare-") and first.name.endswith(f"-vs-{RR1.name}")
    assert second.name in (f"{first.name}-2", second.name)  # a new name, whatever the second


def test_routing_logics_are_compared_on_latency_beside_hits_and_balance(
    tmp_path, monkeypatch
) -> None:
    """compare of roundrobin against prefixaware shows, for the routing scenario, the hit rate,
    the balance, the TTFT on the busiest engine and the TTFT of first and later rounds."""
    without_page(monkeypatch)
    out = tmp_path / "o"
    assert main(["compare", str(RR1), str(PA1), "--out", str(out)]) == 0
    found = rows(out)
    for metric in (
        "prefix_cache_hit_rate", "engine_balance", "ttft_busiest_engine_p50",
        "ttft_first_round_p50", "ttft_later_rounds_p50",
    ):  # fmt: skip
        hit = row(found, "routing", metric)
        # A conversation's requests are resampled together; its first round is one request,
        # and balance counts requests.
        alone = metric in ("engine_balance", "ttft_first_round_p50")
        unit = "requests" if alone else "conversations"
        assert hit["verdict"] != NA and hit["units"].startswith(unit), hit
    # Each from its own rounds' requests.
    first = float(row(found, "routing", "ttft_first_round_p50")["a"])
    later = float(row(found, "routing", "ttft_later_rounds_p50")["a"])
    assert first > 0 and later > 0
    text = (out / "compare.md").read_text()
    assert "TTFT p50 on the busiest engine" in text and "later conversation rounds" in text
