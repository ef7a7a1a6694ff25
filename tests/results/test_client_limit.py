"""The load generator's own figures per level, and when it, not the stack, was the limit."""

from __future__ import annotations

import pytest

from lab.errors import ConfigError
from lab.results import summary
from lab.results.summary import CpuSample, Sample
from tests.helpers.samples import row, write_samples


def samples(tmp_path, lags: list[float], start: float = 100.0) -> list[Sample]:
    """A level of requests, one every 0.1 s for 10 s, with these schedule lags."""
    rows = [
        row(start_time=start + i * 0.1, level="rate10", ttft_ms=20, e2e_ms=90,
            lag_ms=lags[i % len(lags)])
        for i in range(100)
    ]  # fmt: skip
    return summary.read_samples(write_samples(tmp_path / "requests.csv", rows))


def cpu(process: str, cores: float, waits: float | None = 0.0, start: float = 99.0) -> list:
    """A process using `cores` of a core and waiting `waits` of the time, sampled each second."""
    return [
        CpuSample(start + t, process, 5.0 + cores * t, None if waits is None else 1.0 + waits * t)
        for t in range(13)
    ]


def test_a_calm_client_is_not_the_limit_and_its_figures_are_kept(tmp_path) -> None:
    found = samples(tmp_path, [0.2, 1.5, 3.0])
    use = [*cpu("master", 0.05), *cpu("worker-0", 0.4, 0.1), *cpu("worker-1", 0.35, 0.2)]
    figures = summary.client_figures(found, use)
    assert summary.client_limit(found, use) is None
    assert figures["client_limited"] is None
    assert figures["client_processes"] == 3
    assert figures["client_cpu_cores"] == pytest.approx(0.8)
    assert figures["client_cpu_busiest"] == pytest.approx(0.4)
    assert figures["client_demand_busiest"] == pytest.approx(0.55)
    assert figures["lag_p99_ms"] == pytest.approx(3.0)
    assert figures["late_share"] == 0.0


def test_a_process_near_a_full_core_limits_the_level(tmp_path) -> None:
    found = samples(tmp_path, [0.5])
    why = summary.client_limit(found, [*cpu("master", 0.1), *cpu("worker-1", 0.95)])
    assert why is not None and why.startswith("worker-1 used 0.95 of a core")


def test_a_process_starved_of_cpu_by_other_work_limits_the_level_too(tmp_path) -> None:
    """Runnable all the time but on a CPU 40% of it: it sent and timed everything late."""
    why = summary.client_limit(samples(tmp_path, [0.5]), cpu("locust", 0.4, 0.55))
    assert why is not None and "busy or waiting for a CPU 95% of the time" in why


def test_requests_that_left_late_limit_the_level(tmp_path) -> None:
    found = samples(tmp_path, [1.0] * 4 + [400.0])
    why = summary.client_limit(found, [])  # a run from before CPU was recorded: lag alone
    assert why == "20% of requests left over 100 ms after their arrival time (bound 10%)"
    figures = summary.client_figures(found, [])
    assert figures["client_processes"] is None and figures["late_share"] == 0.2


def test_a_few_late_requests_are_not_a_limit(tmp_path) -> None:
    """A hiccup of the machine (one request in ten, exactly the bound) is not the client."""
    assert summary.client_limit(samples(tmp_path, [1.0] * 9 + [400.0]), []) is None


def test_late_requests_on_a_level_that_failed_its_slo_are_the_stacks_doing(tmp_path) -> None:
    """A stack too slow for the rate keeps every user busy: requests go out late, and the
    level failed at less load than asked, so at the load asked too. A saturated process is the
    client's all the same."""
    late = samples(tmp_path, [400.0])
    assert summary.client_limit(late, [], slo_met=False) is None
    assert summary.client_limit(late, [], slo_met=True) is not None
    assert summary.client_limit(late, cpu("locust", 0.95), slo_met=False) is not None


def test_cpu_outside_the_load_does_not_count(tmp_path) -> None:
    """Start-up (imports) and the time after the last request are not the level's load."""
    found = samples(tmp_path, [0.5])
    busy_before = [CpuSample(90.0, "locust", 0.0, None), CpuSample(99.5, "locust", 9.5, None)]
    calm_after = [CpuSample(99.5 + t, "locust", 9.5 + 0.1 * t, None) for t in range(1, 20)]
    assert summary.client_limit(found, busy_before + calm_after) is None
    (use,) = summary.cpu_use(busy_before + calm_after, 100.0, 109.99)
    assert use.cores == pytest.approx(0.1) and use.demand is None


def test_a_cpu_file_that_is_not_numbers_is_refused_by_line(tmp_path) -> None:
    path = tmp_path / "client_cpu.csv"
    path.write_text("time,process,cpu_s,wait_s\n1.0,locust,0.5,\n2.0,locust,lots,\n")
    with pytest.raises(ConfigError, match=r"client_cpu.csv: line 3: cpu_s: 'lots' is not a finite"):
        summary.read_cpu(path)
