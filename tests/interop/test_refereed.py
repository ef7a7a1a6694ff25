"""A series of turns and the engine referee's view of them as results folders: compare --paired
reads them, judges TTFT and E2E on the referee's times, and says TPOT and output tokens/s are
n/a there, with why, rather than inventing them."""

from __future__ import annotations

import csv
from pathlib import Path

from lab.inproc.samples import SAMPLE_COLUMNS
from lab.interop import refereed
from lab.interop.imported import row
from tests.helpers.lab import lab_main

REQUESTS, SPACING_S, BEGAN = 40, 0.25, 1_700_000_000.0


def lab_requests(path: Path, began: float, ttft_ms: float) -> None:
    """A lab turn's requests.csv: REQUESTS streamed answers of 8 tokens, SPACING_S apart."""
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        for i in range(REQUESTS):
            writer.writerow(
                row(
                    start_time=f"{began + i * SPACING_S:.6f}",
                    level="c2",
                    session=f"s{i}",
                    engine="engine-0",
                    prompt_tokens="16",
                    output_tokens="8",
                    ttft_ms=f"{ttft_ms + i % 3:.3f}",
                    tpot_ms="10.000",
                    e2e_ms=f"{ttft_ms + 70 + i % 3:.3f}",
                    status="ok",
                    phase="run",
                    itl_ms=";".join(["10.0"] * 7),
                )
            )


def referee_records(began: float, ttft_ms: float) -> list[dict]:
    return [
        {
            "id": f"r{i}",
            "engine": "engine-0",
            "arrived": began + i * SPACING_S + 0.001,
            "first_chunk_ms": ttft_ms + i % 3,
            "end_ms": ttft_ms + 68 + i % 3,
            "status": 200,
        }
        for i in range(REQUESTS)
    ]


def test_compare_paired_reads_a_series_and_the_referees_view_of_it(tmp_path: Path) -> None:
    for turn in range(2):
        began = BEGAN + turn * 60
        ended = began + REQUESTS * SPACING_S + 1
        requests = tmp_path / f"turn{turn}.csv"
        lab_requests(requests, began, ttft_ms=30.0)
        refereed.lab_turn(requests, began, ended, tmp_path / "lab", "bench", "turn")
        # A record of another turn's time is not this turn's.
        records = [*referee_records(began, 25.0), *referee_records(began + 30, 99.0)]
        made = refereed.referee_turn(records, began, ended, tmp_path / "ref", "bench", "turn")
        (kept,) = (made / "bench").glob("requests.csv")
        assert len(kept.read_text().splitlines()) == REQUESTS + 1
    out = tmp_path / "cmp"
    done = lab_main(
        "compare", "--paired", str(tmp_path / "ref"), str(tmp_path / "lab"), "--out", str(out),
        state_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = {line.split(",")[2]: line for line in (out / "compare.csv").read_text().splitlines()}
    assert "counts no tokens" in table["tpot_p50"]
    assert "counts no tokens" in table["output_tokens_per_s"]
    for metric in ("ttft_p50", "e2e_p90"):
        assert "counts no tokens" not in table[metric] and "n/a" not in table[metric], table
