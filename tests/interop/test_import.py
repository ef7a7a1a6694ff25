"""`lab import`: results of `vllm bench serve` and GuideLLM become results folders whose figures
are the tools' own, and that compare and report read without engines.

The files in tests/data/interop were written by the tools themselves against the simulated
engine (TTFT 20 ms, TPOT 5 ms): vllm bench serve of vLLM 0.32 (12 prompts of 32 tokens, 8 out,
concurrency 2; with and without --save-detailed, --metric-percentiles 50,90,99), GuideLLM 0.8.1
(7 requests, the same lengths and concurrency).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.results import folder as results
from lab.results import manifest as manifests
from tests.helpers.lab import lab_main
from tests.helpers.samples import DATA

INTEROP = DATA / "interop"
ROUNDING = 1e-3  # ms: the rows of requests.csv keep 6 decimals


def imported(tmp_path: Path, *args: str) -> Path:
    done = lab_main("import", *args, "--out", str(tmp_path / "out"), state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    (folder,) = (tmp_path / "out").iterdir()
    return folder


def level(folder: Path) -> dict:
    return results.read_summary(folder / "imported")["levels"]["imported"]


def test_a_detailed_vllm_bench_result_keeps_vllms_own_figures(tmp_path: Path) -> None:
    theirs = json.loads((INTEROP / "vllm-bench-detailed.json").read_text())
    folder = imported(tmp_path, "vllm-bench", str(INTEROP / "vllm-bench-detailed.json"))
    ours = level(folder)
    assert ours["requests"] == theirs["completed"] + theirs["failed"] == 12
    for family, their_name in (("ttft", "ttft"), ("tpot", "tpot"), ("itl", "itl"), ("e2e", "e2el")):
        for p in (50, 90, 99):
            assert ours[f"p{p}_{family}_ms"] == pytest.approx(
                theirs[f"p{p}_{their_name}_ms"], abs=ROUNDING
            ), f"p{p} {family}"
    assert not (folder / "imported" / "engines.csv").exists()
    record = manifests.read(folder).imported
    assert record is not None and record["tool"] == "vllm-bench"
    assert record["settings"]["max_concurrency"] == 2
    assert record["definitions"]["tpot"].startswith("as the lab's")
    assert "goodput" in record["not_applicable"]


def test_a_summary_only_vllm_bench_result_has_its_figures_and_a_note(tmp_path: Path) -> None:
    theirs = json.loads((INTEROP / "vllm-bench-summary.json").read_text())
    done = lab_main(
        "import", "vllm-bench", str(INTEROP / "vllm-bench-summary.json"),
        "--out", str(tmp_path / "out"), state_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "summary figures only" in done.stdout + done.stderr
    (folder,) = (tmp_path / "out").iterdir()
    ours = level(folder)
    assert ours["requests"] == 12
    assert ours["p50_ttft_ms"] == theirs["median_ttft_ms"]
    assert ours["p99_e2e_ms"] == theirs["p99_e2el_ms"]
    assert "goodput" in ours["not_applicable"]


def test_a_guidellm_result_keeps_guidellms_request_count_and_ttft(tmp_path: Path) -> None:
    theirs = json.loads((INTEROP / "guidellm-benchmarks.json").read_text())["benchmarks"][0]
    folder = imported(tmp_path, "guidellm", str(INTEROP / "guidellm-benchmarks.json"))
    ours = level(folder)
    assert ours["requests"] == theirs["metrics"]["request_totals"]["total"] == 7
    ttft = theirs["metrics"]["time_to_first_token_ms"]["successful"]["percentiles"]["p50"]
    assert ours["p50_ttft_ms"] == pytest.approx(ttft, abs=ROUNDING)
    tpot = theirs["metrics"]["inter_token_latency_ms"]["successful"]["percentiles"]["p50"]
    assert ours["p50_tpot_ms"] == pytest.approx(tpot, abs=ROUNDING)
    assert ours["p50_itl_ms"] is None  # GuideLLM keeps no gaps between chunks
    record = manifests.read(folder).imported
    assert record is not None and record["version"] == "0.8.1"


def test_compare_and_report_read_imports_with_engine_figures_na(tmp_path: Path) -> None:
    a = imported(tmp_path / "a", "vllm-bench", str(INTEROP / "vllm-bench-detailed.json"))
    b = imported(tmp_path / "b", "guidellm", str(INTEROP / "guidellm-benchmarks.json"))
    out = tmp_path / "cmp"
    done = lab_main("compare", str(a), str(b), "--out", str(out), state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    table = (out / "compare.csv").read_text()
    itl = next(line for line in table.splitlines() if line.startswith("imported,imported,itl_p50"))
    assert "GuideLLM's benchmarks.json keeps no gap between chunks" in itl
    assert lab_main("report", str(b), state_dir=tmp_path).returncode == 0
    assert "imported from guidellm 0.8.1" in (b / "report.html").read_text()


def test_as_names_the_scenario_and_level_to_pair_with_a_lab_runs(tmp_path: Path) -> None:
    source = str(INTEROP / "vllm-bench-detailed.json")
    folder = imported(tmp_path, "vllm-bench", source, "--as", "throughput/c2")
    (entry,) = manifests.read(folder).scenarios
    assert (entry.name, entry.levels) == ("throughput", ["c2"])
    assert results.read_summary(folder / "throughput")["levels"]["c2"]["requests"] == 12
