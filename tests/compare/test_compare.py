"""`lab compare` on real recorded runs (tests/data/compare: the cpu profile's routing and
throughput scenarios, two runs under roundrobin and two under prefixaware, real engines)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from lab.cli import main
from lab.compare import comparison as compare
from lab.compare import metrics as compare_metrics
from lab.compare import runsets, stats
from lab.compare.comparison import BETTER, MISSING, SAME, WORSE
from lab.errors import ConfigError
from tests.helpers.samples import DATA as SAMPLES
from tests.helpers.samples import judge, write_samples

DATA = SAMPLES / "compare"
RR, PA = DATA / "roundrobin", DATA / "prefixaware"
RR1, RR2 = sorted(RR.iterdir())
PA1, PA2 = sorted(PA.iterdir())
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
    assert code == 0
    found = rows(out)
    measured = [r for r in found if r["verdict"] != MISSING]
    assert measured and all(float(r["change"]) == 0 for r in measured)
    assert {r["verdict"] for r in found} == {SAME, MISSING}
    # No sessions in these recordings, and no SLO judged their requests.
    missing = {r["metric"] for r in found if r["verdict"] == MISSING}
    assert missing == {"session_stickiness", "slo_attainment", "goodput_rps"}
    assert all(float(r["p_value"]) == 1 for r in measured)


def test_outputs_exist_with_one_csv_row_per_level_and_metric(itself) -> None:
    _, out = itself
    assert {p.name for p in out.iterdir()} == {"compare.csv", "compare.md", "compare.html"}
    found = rows(out)
    keys = [(r["scenario"], r["level"], r["metric"]) for r in found]
    assert len(keys) == len(set(keys)) == len(UNITS) * len(compare_metrics.METRICS)
    assert {(s, lv) for s, lv, _ in keys} == set(UNITS)
    page = (out / "compare.html").read_text()
    assert page.count("data:image/png;base64,") == 2 * len(UNITS)  # a CDF and intervals each
    text = (out / "compare.md").read_text()
    assert "## throughput/c4" in text and "**No regression.**" in text


def test_prefixaware_routing_did_not_raise_the_hit_rate_in_these_recordings(tmp_path) -> None:
    """What the recorded data show, stated as it is: vllm-router 0.1.17's cache_aware policy
    spread the routing scenario's concurrent conversations over both engines as round-robin
    did (20/20, no stickiness), so the hit rate did not change between configurations."""
    for n, (a, b) in enumerate([(RR1, PA1), (RR2, PA2)]):
        out = tmp_path / str(n)
        args = ["compare", str(a), str(b), "--metrics", "prefix_cache_hit_rate", "--out", str(out)]
        assert main(args) == 0
        hit = row(rows(out), "routing", "prefix_cache_hit_rate")
        assert hit["verdict"] == SAME and hit["significant"] == "False"
        assert abs(float(hit["change"])) < 0.02


def test_a_warm_prefix_cache_is_a_significant_better_hit_rate(tmp_path) -> None:
    """The second run on the same engines finds the shared prompts cached by the first: a real
    hit-rate change of about +20 points that compare must find, with its direction."""
    out = str(tmp_path / "o")
    assert (
        main(["compare", str(RR1), str(RR2), "--metrics", "prefix_cache_hit_rate", "--out", out])
        == 0
    )
    hit = row(rows(tmp_path / "o"), "routing", "prefix_cache_hit_rate")
    assert hit["verdict"] == BETTER and hit["significant"] == "True"
    assert float(hit["ci_low"]) > 0.05 and float(hit["p_value"]) < 0.001
    assert hit["units"] == "requests (cached / prompt tokens)"


def test_a_regression_fails_the_gate_only_when_asked(tmp_path, capsys) -> None:
    """The first roundrobin run was measured while the machine was busier: TTFT much worse."""
    args = ["compare", str(RR2), str(RR1), "--metrics", "ttft"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--fail-on-regression", "--out", str(tmp_path / "b")]) == 1
    worse = row(rows(tmp_path / "b"), "c1", "ttft_p50")
    assert worse["verdict"] == WORSE and float(worse["change_pct"]) > 100
    assert "regression(s): " in capsys.readouterr().out


def test_repeated_runs_are_compared_with_runs_as_units(tmp_path) -> None:
    out = tmp_path / "o"
    assert main(["compare", str(RR), str(PA), "--fail-on-regression", "--out", str(out)]) == 0
    found = rows(out)
    assert all(r["units"] == "runs (median of 2)" for r in found if r["verdict"] != MISSING)
    assert {(r["n_a"], r["n_b"]) for r in found if r["verdict"] != MISSING} == {("2", "2")}
    # two runs a side: the one-sided rank test cannot go below 1/6 (a little less with ties)
    assert {r["verdict"] for r in found} <= {SAME, MISSING}
    assert min(float(r["p_value"]) for r in found if r["p_value"]) > 0.1
    assert "runs (median of per-run values)" in (out / "compare.md").read_text()


def test_one_run_against_repeated_runs_pools_requests_and_says_so(tmp_path) -> None:
    a, b = runsets.load(RR1), runsets.load(PA)
    result = compare.compare(a, b, compare_metrics.select(["ttft_p50"]), {})
    assert not result.by_runs and any("pooled" in note for note in result.notes)
    (first, *_) = result.rows
    assert first.n_a == 40 and first.n_b == 80


def test_without_per_request_cache_figures_the_engine_counters_are_used(tmp_path) -> None:
    a, b = copy(RR1, tmp_path / "a"), copy(RR2, tmp_path / "b")
    for run in (a, b):
        edit_csv(run / "routing" / "requests.csv", lambda r: r | {"cached_tokens": ""})
    result = compare.compare(
        runsets.load(a), runsets.load(b), compare_metrics.select(["prefix_cache_hit_rate"]), {}
    )
    hit = next(r for r in result.rows if r.unit.level == "routing")
    summary = json.loads((RR1 / "routing" / "summary.json").read_text())["levels"]["routing"]
    assert hit.change is not None
    assert hit.change.a == pytest.approx(summary["prefix_cache_hit_rate"])
    assert hit.change.p is None and hit.verdict == SAME
    assert "engine counters" in hit.method and "repeat the runs" in hit.method


def test_slo_attainment_and_goodput_are_compared_higher_is_better(tmp_path) -> None:
    """One recorded run judged by a looser SLO (A) and a stricter one (B): at c4, 19 of its 42
    measured requests met A's and 7 met B's (counted by hand), over 17.854 s."""
    a, b = copy(RR1, tmp_path / "a"), copy(RR1, tmp_path / "b")
    for run, limits in ((a, {"ttft_ms": 500, "tpot_ms": 30}), (b, {"ttft_ms": 200, "tpot_ms": 20})):
        requests = run / "throughput" / "requests.csv"
        with requests.open(newline="") as file:
            write_samples(requests, judge(list(csv.DictReader(file)), limits))
    chosen = compare_metrics.select(["slo_attainment", "goodput_rps"])
    result = compare.compare(runsets.load(a), runsets.load(b), chosen, {})
    found = {(r.unit.level, r.metric.name): r for r in result.rows}
    attainment, goodput = found["c4", "slo_attainment"], found["c4", "goodput_rps"]
    assert attainment.change.a == pytest.approx(19 / 42)
    assert attainment.change.b == pytest.approx(7 / 42)
    assert attainment.verdict == WORSE  # fewer requests met it: higher is better
    assert goodput.change.a == pytest.approx(19 / 17.854, rel=1e-4)
    assert goodput.change.b == pytest.approx(7 / 17.854, rel=1e-4)
    assert goodput.metric.higher_is_better and goodput.method.endswith("time windows of 2.0 s")
    assert found["routing", "slo_attainment"].verdict == MISSING  # not judged: no SLO there


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


# --- unusable input: exit 2, a clear message, nothing written ---------------------------------


def copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def edit_manifest(run: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def edit_csv(path: Path, change, drop: tuple[str, ...] = ()) -> None:  # type: ignore[no-untyped-def]
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        fields = [f for f in reader.fieldnames or [] if f not in drop]
        records = [change(r) for r in reader]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def keep_only(run: Path, scenario: str) -> None:
    def only(manifest: dict) -> None:
        manifest["scenarios"] = [s for s in manifest["scenarios"] if s["name"] == scenario]

    edit_manifest(run, only)
    for other in {"routing", "throughput"} - {scenario}:
        shutil.rmtree(run / other)


def not_a_results_folder(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "empty").mkdir()
    return [str(tmp / "empty"), str(RR1)], [f"{tmp / 'empty'}: not a results folder"]


def missing_folder(tmp: Path) -> tuple[list[str], list[str]]:
    return [str(RR1), str(tmp / "nowhere")], [f"{tmp / 'nowhere'}: not a folder"]


def manifest_against_its_schema(tmp: Path) -> tuple[list[str], list[str]]:
    run = copy(RR1, tmp / "bad")
    edit_manifest(run, lambda m: m.update(platform="laptop"))
    return [str(RR1), str(run)], [f"{run / 'manifest.json'}: platform: 'laptop' is not one of"]


def bad_run_in_a_folder_of_runs(tmp: Path) -> tuple[list[str], list[str]]:
    runs = tmp / "runs"
    copy(RR1, runs / "one")
    edit_manifest(copy(RR2, runs / "two"), lambda m: m.pop("status"))
    manifest = runs / "two" / "manifest.json"
    return [str(runs), str(PA)], [f"{manifest}: (top level): 'status' is a required property"]


def no_scenario_in_common(tmp: Path) -> tuple[list[str], list[str]]:
    a, b = copy(RR1, tmp / "a"), copy(PA1, tmp / "b")
    keep_only(a, "routing")
    keep_only(b, "throughput")
    return [str(a), str(b)], [
        f"{a} and {b} have no scenario in common",
        f"scenario routing is only in {a}",
        f"scenario throughput is only in {b}",
    ]


def unknown_metric(tmp: Path) -> tuple[list[str], list[str]]:
    return [str(RR1), str(PA1), "--metrics", "ttft,latency"], [
        "--metrics: unknown metric latency; valid metrics: ttft_p50, ttft_p90, ttft_p99"
    ]


def csv_missing_columns(tmp: Path) -> tuple[list[str], list[str]]:
    run = copy(PA1, tmp / "cut")
    edit_csv(run / "throughput" / "requests.csv", lambda r: r, drop=("ttft_ms", "status"))
    return [str(RR1), str(run)], [
        f"{run / 'throughput' / 'requests.csv'}: missing column(s) ttft_ms, status"
    ]


def engines_csv_missing_columns(tmp: Path) -> tuple[list[str], list[str]]:
    run = copy(PA1, tmp / "cut")
    edit_csv(run / "routing" / "engines.csv", lambda r: r, drop=("prefix_cache_hits",))
    return [str(run), str(RR1)], [
        f"{run / 'routing' / 'engines.csv'}: missing column(s) prefix_cache_hits"
    ]


def bad_threshold(tmp: Path) -> tuple[list[str], list[str]]:
    return [str(RR1), str(PA1), "--threshold", "ttft_p99=lots"], [
        "--threshold ttft_p99=lots: expected METRIC=PCT"
    ]


def unknown_threshold_metric(tmp: Path) -> tuple[list[str], list[str]]:
    return [str(RR1), str(PA1), "--threshold", "latency=5"], [
        "--threshold latency=5: unknown metric latency; valid metrics: ttft_p50"
    ]


def bad_alpha(tmp: Path) -> tuple[list[str], list[str]]:
    return [str(RR1), str(PA1), "--alpha", "0.7"], ["--alpha 0.7: must be between 0 and 0.5"]


@pytest.mark.parametrize(
    "case",
    [
        not_a_results_folder,
        missing_folder,
        manifest_against_its_schema,
        bad_run_in_a_folder_of_runs,
        no_scenario_in_common,
        unknown_metric,
        csv_missing_columns,
        engines_csv_missing_columns,
        bad_threshold,
        unknown_threshold_metric,
        bad_alpha,
    ],
)
def test_unusable_input_is_refused_and_nothing_is_written(
    case, tmp_path, monkeypatch, capsys
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args, messages = case(inputs)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the default --out is results/ here
    assert main(["compare", *args]) == 2
    assert main(["compare", *args, "--out", str(tmp_path / "out")]) == 2
    assert not any(work.iterdir()) and not (tmp_path / "out").exists()
    err = capsys.readouterr().err
    for message in messages:
        assert message in err
    assert "Traceback" not in err


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


# --- policy, table-driven ---------------------------------------------------------------------


def change(a: float, b: float, significant: bool = True) -> stats.Change:
    d = b - a
    rel = d / a if a else None
    p = 0.001 if significant else 0.5
    low, high = (d * 0.5, d * 1.5) if d > 0 else (d * 1.5, d * 0.5)
    rels = (None, None) if rel is None else (low / a, high / a)
    return stats.Change(a, b, d, low, high, rel, *rels, p, "mann-whitney")


@pytest.mark.parametrize(
    ("metric", "a", "b", "significant", "threshold", "expected"),
    [
        ("ttft_p50", 100, 120, True, 10, WORSE),  # latency up 20%: worse
        ("ttft_p99", 100, 80, True, 10, BETTER),  # latency down 20%: better
        ("itl_p90", 100, 105, True, 10, SAME),  # significant but within 10%
        ("e2e_p50", 100, 105, True, 4, WORSE),  # ... beyond a lowered threshold
        ("tpot_p50", 100, 150, False, 10, SAME),  # large but not significant
        ("requests_per_s", 10, 9.4, True, 5, WORSE),  # throughput down 6%: worse
        ("output_tokens_per_s", 10, 10.6, True, 5, BETTER),
        ("output_tokens_per_s", 10, 10.4, True, 5, SAME),
        ("error_rate", 0.0, 0.02, True, 1, WORSE),  # +2 points (relative change undefined)
        ("error_rate", 0.05, 0.055, True, 1, SAME),  # +0.5 points
        ("prefix_cache_hit_rate", 0.6, 0.8, True, 5, BETTER),  # +20 points
        ("prefix_cache_hit_rate", 0.6, 0.57, True, 5, SAME),  # -3 points
        ("prefix_cache_hit_rate", 0.6, 0.5, True, 5, WORSE),
        ("session_stickiness", 0.5, 1.0, True, 5, BETTER),
        ("engine_balance", 1.0, 0.0, True, 10, WORSE),
        ("engine_balance", 1.0, 0.95, True, 10, SAME),
    ],
)
def test_verdicts_know_each_metrics_direction_and_threshold(
    metric, a, b, significant, threshold, expected
) -> None:
    found, sig, _ = compare.verdict(
        compare_metrics.BY_NAME[metric], change(a, b, significant), threshold, 0.05
    )
    assert found == expected and sig == significant


def test_a_missing_metric_has_no_verdict() -> None:
    assert compare.verdict(compare_metrics.BY_NAME["ttft_p50"], None, 10, 0.05)[0] == MISSING


@pytest.mark.parametrize(
    ("metric", "higher_is_better", "threshold", "relative"),
    [
        ("ttft_p50", False, 10, True),
        ("e2e_p99", False, 10, True),
        ("requests_per_s", True, 5, True),
        ("output_tokens_per_s", True, 5, True),
        ("error_rate", False, 1, False),
        ("prefix_cache_hit_rate", True, 5, False),
        ("session_stickiness", True, 5, False),
        ("engine_balance", True, 10, False),
    ],
)
def test_default_directions_and_thresholds(metric, higher_is_better, threshold, relative) -> None:
    found = compare_metrics.BY_NAME[metric]
    assert (found.higher_is_better, found.threshold, found.relative) == (
        higher_is_better,
        threshold,
        relative,
    )


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["ttft_p99=15"], {"ttft_p99": 15, "ttft_p50": 10}),
        (["ttft=20%"], {"ttft_p50": 20, "ttft_p90": 20, "ttft_p99": 20, "e2e_p50": 10}),
        (["throughput=2.5", "error_rate=0.5"], {"requests_per_s": 2.5, "error_rate": 0.5}),
    ],
)
def test_thresholds_override_metrics_or_families(items, expected) -> None:
    found = compare_metrics.thresholds(items)
    assert {k: found[k] for k in expected} == expected


def test_metrics_are_chosen_by_name_or_family_in_catalogue_order() -> None:
    chosen = compare_metrics.select(["error_rate,ttft", "requests_per_s"])
    assert [m.name for m in chosen] == [
        "ttft_p50",
        "ttft_p90",
        "ttft_p99",
        "requests_per_s",
        "error_rate",
    ]
    assert len(compare_metrics.select([])) == len(compare_metrics.METRICS)
    with pytest.raises(ConfigError, match="or a family: ttft, tpot, itl, e2e, throughput"):
        compare_metrics.select(["p99"])
