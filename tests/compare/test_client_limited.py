"""`compare` on a level whose load generator was the limit: what the client timed there
(latencies, throughput, SLO attainment, goodput) is the client's, so it is n/a
(client_limited), never better or worse; errors are the stack's all the same."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from lab.cli import main
from lab.compare import outcomes
from tests.helpers.samples import DATA

RR1, RR2 = sorted((DATA / "compare" / "roundrobin").iterdir())


def limited(run: Path, into: Path, level: str) -> Path:
    """A copy of a recorded run whose throughput `level` was marked client-limited."""
    copy = into / run.name
    shutil.copytree(run, copy)
    figures = copy / "throughput" / "summary.json"
    data = json.loads(figures.read_text())
    data["levels"][level]["client_limited"] = "worker-0 used 0.97 of a core (bound 0.9)"
    figures.write_text(json.dumps(data))
    return copy


def test_a_client_limited_level_has_no_latency_or_throughput_verdict(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    b = limited(RR2, tmp_path, "c4")
    main(["compare", str(RR1), str(b), "--out", str(out)])
    with (out / "compare.csv").open(newline="") as file:
        found = list(csv.DictReader(file))
    latencies = [f"{f}_p{q}" for f in ("ttft", "tpot", "itl", "e2e") for q in (50, 90, 99)]
    families = [*latencies, "requests_per_s", "output_tokens_per_s"]
    at_c4 = {r["metric"]: r for r in found if r["level"] == "c4"}
    for metric in families:
        assert at_c4[metric]["verdict"] == outcomes.NA, metric
        assert at_c4[metric]["reason"] == outcomes.CLIENT_LIMITED
    assert at_c4["error_rate"]["verdict"] != outcomes.NA  # errors are the stack's all the same
    others = [r for r in found if r["level"] == "c1" and r["metric"] in families]
    assert others and all(r["verdict"] != outcomes.NA for r in others)
    assert "throughput/c4: client_limited: worker-0 used 0.97 of a core" in capsys.readouterr().out


def test_a_client_limited_run_among_repeats_leaves_the_others_to_judge(tmp_path, capsys) -> None:
    """Repeated runs a side: the client-limited run's timings are left out, the others count."""
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    for run in (RR1, RR2):
        shutil.copytree(run, a / run.name)
    shutil.copytree(RR1, b / RR1.name)
    limited(RR2, b, "c4")
    main(["compare", str(a), str(b), "--out", str(out), "--metrics", "ttft_p50,error_rate"])
    with (out / "compare.csv").open(newline="") as file:
        at_c4 = {r["metric"]: r for r in csv.DictReader(file) if r["level"] == "c4"}
    assert at_c4["ttft_p50"]["verdict"] != outcomes.NA
    assert (at_c4["ttft_p50"]["n_a"], at_c4["ttft_p50"]["n_b"]) == ("2", "1")
    assert (at_c4["error_rate"]["n_a"], at_c4["error_rate"]["n_b"]) == ("2", "2")
    assert f"{b / RR2.name}: throughput/c4: client_limited" in capsys.readouterr().out
