"""A soak's bookkeeping on simulated engines behind the real vllm-router (one short soak: the
latency of each minute needs a minute and more), and its memory gate on a fake process whose
memory rises at a set pace."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil
import pytest

from lab.compare import soak as verdicts
from lab.config import profile
from lab.config.kinds.soak import SoakScenario
from lab.errors import StepFailed
from lab.inproc.samples import SAMPLE_COLUMNS
from lab.load import scenarios, soak
from lab.results import soak as series
from tests.helpers.simstack import sim_stack

SOAK = (
    "scenarios=[{name: soak, kind: soak, rate: 4, duration: 66, warmup: 10, interval: 1, "
    "prompt_tokens: 8, output_tokens: 8, max_growth_mb_per_h: 100000}]"
)
# Allocates RATE MB a second, caught up to the clock whatever its loop's delays, for 60 s.
LEAKER = """
import time
held, began = [], time.monotonic()
while time.monotonic() - began < 60:
    while len(held) < (time.monotonic() - began) * {rate}:
        held.append(bytearray(b"x" * 1_000_000))
    time.sleep(0.05)
"""


@pytest.mark.slow
def test_a_short_soak_samples_every_process_and_loses_no_request(tmp_path) -> None:
    lab = profile.load("cpu", ["engine.simulated={ttft_ms: 5, tpot_ms: 5}", SOAK])
    with sim_stack(tmp_path / "state") as (platform, current):
        folder = scenarios.run(lab, current, ["soak"], tmp_path / "results", platform)
    place = folder / "soak"
    rows = series.read(place / series.FILE)
    memory = series.per_source(rows, series.MEMORY)
    assert set(memory) == {"router", "engine-0", "engine-1", "locust"}
    for times, values in memory.values():
        assert times.size >= 50 and (values > 1).all()  # a sample a second, in MB
    for _, values in series.per_source(rows, series.FDS).values():
        assert (values >= 3).all()  # stdin, stdout, stderr at the least
    minutes = [r for r in rows if r["source"] == series.REQUESTS and r["metric"] == "count"]
    assert minutes and minutes[0]["value"] > 150  # about 240 requests in the first minute
    found = json.loads((place / series.VERDICTS).read_text())
    assert all(found["slopes"][source] is not None for source in memory)
    counted = found["requests"]
    assert counted["locust_count"] == counted["rows"] > 200
    assert counted["lost"] == 0 and counted["unaccounted"] == 0, counted
    assert counted["failed_rows"] == 0
    assert found["drift"]["window_s"] == pytest.approx(66 / 4, abs=2)
    assert found["gate_failures"] == []
    assert "Memory slope after 10 s of warm-up" in (folder / "report.html").read_text()


def scenario(limit: float) -> SoakScenario:
    return SoakScenario("soak", "soak", 1.0, 60, 8, 8, 0, 0.2, limit, None, None)


@pytest.mark.slow
def test_a_process_whose_memory_rises_at_a_set_pace_is_found_and_fails_the_gate(
    tmp_path,
) -> None:
    rate = 5  # MB a second: 18,000 MB an hour
    leaker = subprocess.Popen([sys.executable, "-c", LEAKER.format(rate=rate)])
    try:
        process = psutil.Process(leaker.pid)
        with (tmp_path / series.FILE).open("w") as file:
            file.write(",".join(series.COLUMNS) + "\n")
            for _ in range(40):  # 8 s, a sample each 0.2 s
                rss, _ = soak.usage(process)
                file.write(f"{time.time():.3f},leaker,{series.MEMORY},{rss:.3f}\n")
                time.sleep(0.2)
    finally:
        leaker.kill()
        leaker.wait()
    (found,) = verdicts.slopes(series.read(tmp_path / series.FILE), scenario(1.0)).values()
    assert found is not None
    # The pace is set in MB of 10**6 bytes; the first allocations may share pages already held.
    assert found.low <= rate * 3600 <= found.high * 1.1, found
    (tmp_path / "requests.csv").write_text(",".join(SAMPLE_COLUMNS) + "\n")  # none sent
    with pytest.raises(StepFailed, match=r"leaker grows .* above the limit of 1000 MB/h") as failed:
        soak.judge(scenario(1000.0), tmp_path, "soak", {})
    assert failed.value.exit_code == 1  # what the command line exits with (lab.cli)
    judged = json.loads((tmp_path / series.VERDICTS).read_text())
    assert judged["gate_failures"] and judged["slopes"]["leaker"]["low"] > 1000
