"""Results folders, manifests, per-level summaries and the report, without engines."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest

from lab import platforms
from lab.config import profile
from lab.config.kinds import steady
from lab.errors import ConfigError
from lab.load import levels, locust
from lab.results import folder as results
from lab.results import manifest as manifests
from lab.results import provenance, report, summary
from tests.helpers.samples import (
    DATA,
    ENDPOINTS,
    fake_state,
    interrupted_run,
    judge,
    row,
    write_samples,
)

RECORDED = DATA / "compare" / "roundrobin" / "20261127T060156Z-cpu"


def test_levels_of_the_default_profile() -> None:
    routing, throughput = profile.load("cpu").scenarios
    (level,) = levels.levels(routing)
    assert (level.name, level.locustfile, level.users) == ("routing", "routing.py", 10)
    assert level.options["--lab-rounds"] == "10"
    names = [(lv.name, lv.users) for lv in levels.levels(throughput)]
    assert names == [("c1", 1), ("c4", 4), ("rate8", 24)]
    assert levels.levels(throughput)[2].options["--lab-rate"] == "8.0"


def test_resilience_load_is_closed_loop_or_poisson_at_a_rate() -> None:
    failover = profile.load("cpu-resilience").scenario("failover")
    (level,) = levels.levels(failover)
    assert (level.users, level.options["--lab-rate"]) == (12, "4.0")  # Poisson, 4/s
    assert (level.minimum, level.settle) == (120, steady.SETTLE)
    closed = profile.load("cpu-resilience", ["scenarios[1].rate=null", "scenarios[1].users=3"])
    (level,) = levels.levels(closed.scenarios[1])
    assert level.users == 3 and "--lab-rate" not in level.options


def test_locust_command_writes_every_output_into_the_level_folder(tmp_path) -> None:
    routing = profile.load("cpu").scenarios[0]
    level = levels.levels(routing)[0]
    command = locust.command(level, routing, ENDPOINTS, tmp_path, "/w.txt")
    flag = {command[i]: command[i + 1] for i in range(len(command) - 1)}
    assert command[1:3] == ["-m", "locust"] and "--headless" in command
    assert flag["--csv"] == str(tmp_path / "routing" / "locust")
    assert flag["--json-file"] == str(tmp_path / "routing" / "locust_stats")
    assert flag["--html"] == str(tmp_path / "routing" / "locust.html")
    assert flag["--lab-samples"] == str(tmp_path / "requests.csv")
    assert flag["--lab-session-key"] == "x-user-id"
    assert flag["--lab-words"] == "/w.txt"
    assert flag["--exit-code-on-error"] == "0"
    assert "--lab-tokenizer" not in command  # chat messages, unless the router needs token IDs


def test_token_ids_go_to_the_routing_scenario_only(tmp_path) -> None:
    """Where the router routes on token IDs, the routing user gets the tokenizer; the
    throughput users, whose prompts share no prefix, keep sending chat messages."""
    lab = profile.load("cpu")
    endpoints = dataclasses.replace(ENDPOINTS, tokenizer="/models/tiny")
    routing, throughput = lab.scenarios[0], lab.scenarios[1]
    (level,) = levels.levels(routing)
    command = locust.command(level, routing, endpoints, tmp_path, "")
    assert command[command.index("--lab-tokenizer") + 1] == "/models/tiny"
    for level in levels.levels(throughput):
        command = locust.command(level, throughput, endpoints, tmp_path, "")
        assert "--lab-tokenizer" not in command


def test_results_folders_are_never_reused(tmp_path) -> None:
    lab = profile.load("cpu")
    first = results.create(tmp_path, lab)
    second = results.create(tmp_path, lab)
    assert first != second and first.name.endswith("-cpu") and second.name.endswith("-2")


def test_a_manifest_validates_and_round_trips(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(provenance, "versions", lambda url: {
        "lab": "0", "python": "3", "locust": "2", "vllm": "0.32.0", "vllm_router": "0.1.17"
    })  # fmt: skip
    manifest = manifests.start(profile.load("cpu"), fake_state(), [])
    manifests.Recorder(tmp_path, manifest)
    read = manifests.read(tmp_path)
    assert read.profile["name"] == "cpu" and read == manifest
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest.to_json()
    assert manifest.helm_values is not None
    assert manifest.helm_values["routerSpec"]["routingLogic"] == "roundrobin"


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("local", []),  # engines and router are Python packages there
        ("kind", ["public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.32.0",
                  "lmcache/lmstack-router:v0.1.12"]),
        ("compose", ["public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.32.0",
                     "lmcache/lmstack-router:v0.1.12", "prom/prometheus:v2.53.0"]),
    ],
)  # fmt: skip
def test_the_manifest_records_the_images_the_platform_ran(
    platform, expected, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(provenance, "versions", lambda url: {
        "lab": "0", "python": "3", "locust": "2", "vllm": "0.32.0", "vllm_router": "0.1.17"
    })  # fmt: skip
    lab = profile.load("cpu")
    assert platforms.images(platform, lab) == expected
    manifests.Recorder(tmp_path, manifests.start(lab, fake_state(), expected))
    assert manifests.read(tmp_path).images == expected


def test_a_scenario_name_in_a_manifest_is_a_plain_name(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(provenance, "versions", lambda url: {
        "lab": "0", "python": "3", "locust": "2", "vllm": "0.32.0", "vllm_router": "0.1.17"
    })  # fmt: skip
    manifest = manifests.start(profile.load("cpu"), fake_state(), [])
    for name in ("../elsewhere", "/tmp/x", "a/b", ".", ""):
        manifest.scenarios = [manifests.ScenarioRecord(name, "routing", "completed", "t", "t")]
        with pytest.raises(ConfigError, match=r"scenarios\[0\]\.name: .* does not match"):
            manifests.Recorder(tmp_path, manifest)
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: None, r"not a results folder \(no manifest.json\)"),
        (lambda d: (d / "manifest.json").write_text("{nope"), "not valid JSON"),
        (lambda d: (d / "manifest.json").write_text('{"schema_version": 1}'), "is a required"),
    ],
)
def test_unusable_folders_are_refused(tmp_path, setup, expected: str) -> None:
    setup(tmp_path)
    with pytest.raises(ConfigError, match=expected):
        manifests.read(tmp_path)


def test_summary_of_samples(tmp_path) -> None:
    rows = [
        row(start_time=100 + i, level="c1", session=f"s{i % 2}", engine=f"engine-{i % 2}",
            ttft_ms=10 * (i + 1), tpot_ms=2, e2e_ms=100, itl_ms="1;2;3")
        for i in range(10)
    ]  # fmt: skip
    rows.append(row(start_time=111, level="c1", status="error", error="HTTP 503: busy"))
    rows.append(row(start_time=112, level="c1", ttft_ms=9999, e2e_ms=9999, phase="drain"))
    samples = summary.read_samples(write_samples(tmp_path / "r.csv", rows))
    engines = {"engine-0": {"prefix_cache_queries": 100, "prefix_cache_hits": 25}}
    figures = summary.summarize(samples, engines)
    assert (figures["requests"], figures["completed"], figures["failed"]) == (11, 10, 1)
    assert figures["drained"] == 1  # counted, but its timing stays out of the latencies
    assert figures["errors"] == {"HTTP 503": 1}
    assert figures["p50_ttft_ms"] == pytest.approx(55)
    assert figures["p50_itl_ms"] == 2
    assert figures["session_stickiness"] == 1.0
    assert figures["requests_per_engine"] == {"engine-0": 5, "engine-1": 5}
    assert figures["engine_balance"] == 1.0
    assert figures["busiest_engine_share"] == 0.5
    # engine-0 served TTFTs 10, 30, .., 90; engine-1 20, 40, .., 100.
    assert figures["p50_ttft_ms_per_engine"] == {"engine-0": 50, "engine-1": 60}
    assert "p50_ttft_ms_by_round" not in figures  # no conversations in this level
    assert figures["prefix_cache_hit_rate"] == 0.25
    # From the first start to the last end among measured requests (the error at t=111).
    assert figures["output_tokens_per_s"] == pytest.approx(40 / (111 - 100))


def test_stickiness_counts_each_sessions_home_share() -> None:
    def s(session: str, engine: str) -> summary.Sample:
        return summary.Sample(0, "", session, "0", engine, 1, 1, None, 1, 1, 1, (), True, "", "run")

    samples = [s("a", "e0"), s("a", "e0"), s("a", "e1"), s("b", "e1")]
    assert summary.stickiness(samples) == pytest.approx((2 / 3 + 1) / 2)
    assert summary.stickiness([s("", "e0")]) is None


def test_report_renders_from_the_folder_alone(tmp_path) -> None:
    interrupted_run(tmp_path)
    page = report.write(tmp_path).read_text()
    assert "routing (routing): interrupted" in page and "Ctrl-C" in page
    assert page.count("data:image/png;base64,") >= 4  # CDFs, timeline, by-round
    assert "Routing verdict" in page and "TTFT p50 by round" in page


def test_conversations_get_their_ttft_by_round(tmp_path) -> None:
    rows = [
        row(start_time=100 + i, level="routing", session=f"s{i % 2}", round=str(i // 2),
            engine="engine-0", ttft_ms=100 if i < 2 else 20, e2e_ms=200)
        for i in range(6)
    ]  # fmt: skip
    figures = summary.summarize(summary.read_samples(write_samples(tmp_path / "r.csv", rows)))
    assert figures["p50_ttft_ms_by_round"] == {"0": 100, "1": 20, "2": 20}
    assert figures["busiest_engine_share"] == 1.0


def test_goodput_and_attainment_follow_vllm_bench_serve(tmp_path) -> None:
    limits = {"ttft_ms": 100.0, "tpot_ms": 10.0}
    rows = judge([
        row(start_time=100, level="r", ttft_ms=100, tpot_ms=10, e2e_ms=400, output_tokens=32),
        row(start_time=101, level="r", ttft_ms=50, tpot_ms=5, e2e_ms=300, output_tokens=32),
        row(start_time=102, level="r", ttft_ms=100.5, tpot_ms=5, e2e_ms=300, output_tokens=32),
        row(start_time=103, level="r", ttft_ms=50, tpot_ms=10.5, e2e_ms=300, output_tokens=32),
        row(start_time=104, level="r", ttft_ms=60, e2e_ms=60, output_tokens=1),  # no TPOT: 0
        row(start_time=105, level="r", ttft_ms=60, e2e_ms=60, output_tokens=0),  # none: as 1
        row(start_time=106, level="r", status="error", error="HTTP 503: busy"),
        row(start_time=107, level="r", ttft_ms=99, tpot_ms=9, e2e_ms=4000, output_tokens=32),
        row(start_time=108, level="r", ttft_ms=5, tpot_ms=5, e2e_ms=9, phase="drain"),
    ], limits)  # fmt: skip
    assert [r["slo_ok"] for r in rows] == ["1", "1", "0", "0", "1", "1", "0", "1", ""]
    samples = summary.read_samples(write_samples(tmp_path / "r.csv", rows))
    figures = summary.summarize(samples)
    # 5 good of 8 measured (the failure counts, the drained request does not), over the span
    # from the first start (100) to the last end (107 + 4 s).
    assert figures["slo_attainment"] == 5 / 8
    assert figures["goodput_rps"] == pytest.approx(5 / 11)
    assert figures["requests_per_s"] == pytest.approx(7 / 11)


def test_goodput_and_attainment_of_a_recorded_level(tmp_path) -> None:
    """The cpu profile's c4 level as recorded on two cores: 19 of its 42 measured requests had
    TTFT <= 500 ms and TPOT <= 30 ms (counted by hand from requests.csv), over 17.854 s."""
    with (RECORDED / "throughput" / "requests.csv").open(newline="") as file:
        rows = [r for r in csv.DictReader(file) if r["level"] == "c4"]
    rows = judge(rows, {"ttft_ms": 500.0, "tpot_ms": 30.0})
    figures = summary.summarize(summary.read_samples(write_samples(tmp_path / "r.csv", rows)))
    assert figures["requests"] == 42
    assert figures["slo_attainment"] == pytest.approx(19 / 42)
    assert figures["goodput_rps"] == pytest.approx(19 / 17.854, rel=1e-4)


def test_a_level_without_an_slo_has_no_goodput(tmp_path) -> None:
    samples = summary.read_samples(write_samples(tmp_path / "r.csv", [row(start_time=1)]))
    figures = summary.summarize(samples)
    assert figures["slo_attainment"] is None and figures["goodput_rps"] is None
