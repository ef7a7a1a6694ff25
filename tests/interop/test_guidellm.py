"""A GuideLLM result made by GuideLLM itself (from PyPI, in its own environment:
tests/helpers/guidellm.py) against the simulated engine, imported: its request count and TTFT
p50 are GuideLLM's own summary's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lab.config import model
from lab.results import folder as results
from lab.sim import SimOptions, running
from tests.helpers import guidellm
from tests.helpers.lab import lab_main

REQUESTS = 7  # odd: every definition of a median is then the middle request's
ROUNDING = 1e-3  # ms


@pytest.mark.slow
def test_guidellms_own_result_imports_with_its_count_and_ttft(tmp_path: Path) -> None:
    python = guidellm.python()
    model.ensure_tiny()
    name = str(model.tiny_dir())  # GuideLLM loads its tokenizer by the model's name
    out = tmp_path / "benchmarks.json"
    with running(SimOptions(served_model_name=name, ttft_ms=20.0, tpot_ms=5.0)) as sim:
        command = [
            str(python), "-m", "guidellm", "run",
            "--backend", f"kind=openai_http,target={sim.url},model={name}",
            "--profile", "kind=concurrent,streams=2",
            "--constraint", f"kind=max_requests,count={REQUESTS}",
            "--data", "kind=synthetic_text,prompt_tokens=32,output_tokens=8",
            "--output", f"kind=json,path={out}",
            "--disable-console-interactive",
        ]  # fmt: skip
        subprocess.run(
            command,
            check=True,
            capture_output=True,
            timeout=300,
            cwd=tmp_path,
        )
    theirs = json.loads(out.read_text())["benchmarks"][0]["metrics"]
    done = lab_main(
        "import", "guidellm", str(out), "--out", str(tmp_path / "runs"), state_dir=tmp_path
    )
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "runs").iterdir()
    ours = results.read_summary(run / "imported")["levels"]["imported"]
    assert ours["requests"] == theirs["request_totals"]["total"] == REQUESTS
    ttft = theirs["time_to_first_token_ms"]["successful"]["percentiles"]["p50"]
    assert ours["p50_ttft_ms"] == pytest.approx(ttft, abs=ROUNDING)
    assert ours["completed"] == theirs["request_totals"]["successful"]
