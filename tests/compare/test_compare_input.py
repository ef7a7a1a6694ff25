"""`lab compare` refuses unusable input with exit 2, a clear message, and nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lab.cli import main
from tests.helpers.runs import PA, PA1, RR1, RR2, copy, edit_csv, edit_manifest, keep_only


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


def unknown_gate_metric(tmp: Path) -> tuple[list[str], list[str]]:
    return [str(RR1), str(PA1), "--gate", "ttft_p50,p95"], [
        "--gate: unknown metric p95; valid metrics: ttft_p50, ttft_p90, ttft_p99"
    ]


def gate_with_nothing_gated(tmp: Path) -> tuple[list[str], list[str]]:
    return [str(RR1), str(PA1), "--metrics", "itl", "--fail-on-regression"], [
        "--fail-on-regression: none of the metrics compared is in the default gate"
    ]


def missing_noise_profile(tmp: Path) -> tuple[list[str], list[str]]:
    return [str(RR1), str(PA1), "--noise", str(tmp)], [
        f"--noise {tmp}: no noise.json there; make a noise profile with `python -m lab calibrate"
    ]


def noise_profile_against_its_schema(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "noise.json").write_text(json.dumps({"schema_version": 1, "runs": ["a"]}))
    return [str(RR1), str(PA1), "--noise", str(tmp)], [
        f"{tmp / 'noise.json'}: (top level): 'entries' is a required property",
        f"{tmp / 'noise.json'}: runs: ['a'] is too short",
    ]


def noise_profile_not_json(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "noise.json").write_text("{runs")
    return [str(RR1), str(PA1), "--noise", str(tmp / "noise.json")], [
        f"{tmp / 'noise.json'}: not valid JSON"
    ]


def out_not_writable(tmp: Path) -> tuple[list[str], list[str]]:
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return [str(RR1), str(PA1), "--out", str(locked / "o")], [
        f"--out {locked / 'o'}: cannot be created ({locked} is not a writable folder)"
    ]


def out_under_a_file(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "file").write_text("mine")
    return [str(RR1), str(PA1), "--out", str(tmp / "file" / "o")], [
        f"--out {tmp / 'file' / 'o'}: {tmp / 'file'} is not a folder"
    ]


def out_is_a_file(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "file").write_text("mine")
    return [str(RR1), str(PA1), "--out", str(tmp / "file")], [
        f"--out {tmp / 'file'}: exists and is not empty"
    ]


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
        unknown_gate_metric,
        gate_with_nothing_gated,
        missing_noise_profile,
        noise_profile_against_its_schema,
        noise_profile_not_json,
        out_not_writable,
        out_under_a_file,
        out_is_a_file,
    ],
)
def test_unusable_input_is_refused_and_nothing_is_written(
    case, tmp_path, monkeypatch, capsys
) -> None:
    if case is out_not_writable and os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args, messages = case(inputs)
    before = sorted(p for p in inputs.rglob("*"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the default --out is results/ here
    assert main(["compare", *args]) == 2
    if "--out" not in args:
        assert main(["compare", *args, "--out", str(tmp_path / "out")]) == 2
    assert not any(work.iterdir()) and not (tmp_path / "out").exists()
    assert sorted(p for p in inputs.rglob("*")) == before
    err = capsys.readouterr().err
    for message in messages:
        assert message in err
    assert "Traceback" not in err
