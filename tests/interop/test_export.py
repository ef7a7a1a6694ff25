"""`lab export vllm-bench`: a lab run in `vllm bench serve`'s detailed result format, read back
by vLLM's own code that reads saved results (`vllm bench sweep`'s: `run_benchmark` finds a
saved result and returns it, `plot` turns its strings back into numbers), whose request count
and TTFT percentiles are the run's; and a vllm bench result imported and exported again keeps
them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lab.results import folder as results
from tests.helpers.lab import lab_main
from tests.helpers.runs import RR1
from tests.helpers.samples import DATA

ROUNDING = 1e-3  # ms


def read_by_vllm(path: Path) -> dict[str, Any]:
    """The saved result as vllm bench sweep reads it."""
    from vllm.benchmarks.sweep.param_sweep import ParameterSweepItem
    from vllm.benchmarks.sweep.plot import _convert_inf_nan_strings
    from vllm.benchmarks.sweep.serve import run_benchmark

    found = run_benchmark(
        None,
        ["vllm", "bench", "serve"],
        serve_overrides=ParameterSweepItem(),
        bench_overrides=ParameterSweepItem(),
        run_number=0,
        output_path=path,
        dry_run=False,
    )
    assert found is not None
    (record,) = _convert_inf_nan_strings([found])
    return record


def exported(tmp_path: Path, run: Path, *args: str) -> Path:
    out = tmp_path / "exported.json"
    done = lab_main("export", "vllm-bench", str(run), *args, "--out", str(out), state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    return out


def test_a_lab_run_exported_is_read_by_vllm_with_its_count_and_ttft(tmp_path: Path) -> None:
    theirs = read_by_vllm(exported(tmp_path, RR1, "--level", "throughput/c4"))
    ours = results.read_summary(RR1 / "throughput")["levels"]["c4"]
    assert theirs["completed"] == ours["completed"] > 0
    assert theirs["completed"] + theirs["failed"] == ours["requests"]
    assert theirs["median_ttft_ms"] == pytest.approx(ours["p50_ttft_ms"], abs=ROUNDING)
    for p in (50, 90, 99):
        assert theirs[f"p{p}_ttft_ms"] == pytest.approx(ours[f"p{p}_ttft_ms"], abs=ROUNDING)
    assert len(theirs["ttfts"]) == ours["requests"]


def test_a_vllm_bench_result_imported_and_exported_keeps_its_figures(tmp_path: Path) -> None:
    source = DATA / "interop" / "vllm-bench-detailed.json"
    done = lab_main(
        "import", "vllm-bench", str(source), "--out", str(tmp_path / "runs"), state_dir=tmp_path
    )
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "runs").iterdir()
    again = read_by_vllm(exported(tmp_path, run))
    first = json.loads(source.read_text())
    assert again["completed"] == first["completed"] == 12
    for key in ("median_ttft_ms", "p90_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_e2el_ms"):
        assert again[key] == pytest.approx(first[key], abs=ROUNDING), key
    assert again["ttfts"] == pytest.approx(first["ttfts"], abs=1e-9)
