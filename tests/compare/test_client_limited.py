"""`compare` on a level whose load generator was the limit: its latencies and throughput are
the client's, so they are n/a (reason client_limited), never better or worse."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from lab.cli import main
from lab.compare.comparison import MISSING
from tests.helpers.samples import DATA

RR1, RR2 = sorted((DATA / "compare" / "roundrobin").iterdir())


def limited(run: Path, tmp_path: Path, level: str) -> Path:
    """A copy of a recorded run whose throughput `level` was marked client-limited."""
    copy = tmp_path / run.name
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
        assert at_c4[metric]["verdict"] == MISSING, metric
        assert at_c4[metric]["units"] == "client_limited"
    assert at_c4["error_rate"]["verdict"] != MISSING  # errors are the stack's all the same
    others = [r for r in found if r["level"] == "c1" and r["metric"] in families]
    assert others and all(r["verdict"] != MISSING for r in others)
    assert "throughput/c4: client_limited: worker-0 used 0.97 of a core" in capsys.readouterr().out
