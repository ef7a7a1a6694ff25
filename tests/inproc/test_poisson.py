"""Open-loop arrivals: one schedule from (rate, burstiness, seed), dealt out to processes."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from lab.inproc import poisson


def take(times, n: int) -> list[float]:
    return list(itertools.islice(times, n))


def test_a_schedule_is_the_same_from_the_same_seed_and_keeps_its_rate() -> None:
    first = take(poisson.schedule(20.0, seed=7), 4000)
    assert first == take(poisson.schedule(20.0, seed=7), 4000)
    assert first != take(poisson.schedule(20.0, seed=8), 4000)
    assert first == sorted(first) and first[0] > 0
    assert 4000 / first[-1] == pytest.approx(20.0, rel=0.05)


@pytest.mark.parametrize("count", [2, 3, 5])
def test_dealt_out_shares_together_are_the_whole_schedule(count: int) -> None:
    """Every process takes every count-th arrival: their union is the schedule itself, so the
    sum of the processes keeps the asked-for process, and each share carries 1/count of it."""
    whole = take(poisson.schedule(30.0, seed=1), 3000)
    shares = [take(poisson.share(poisson.schedule(30.0, seed=1), i, count), 3000 // count)
              for i in range(count)]  # fmt: skip
    assert sorted(itertools.chain(*shares)) == whole
    for share in shares:
        assert len(share) / share[-1] == pytest.approx(30.0 / count, rel=0.1)


@pytest.mark.parametrize(("burstiness", "cv"), [(1.0, 1.0), (4.0, 0.5), (0.25, 2.0)])
def test_burstiness_is_the_gamma_shape_of_the_gaps(burstiness: float, cv: float) -> None:
    """As vllm bench serve: gamma gaps of mean 1/rate; their coefficient of variation is
    1/sqrt(shape): 1 for Poisson, smaller for more regular, larger for burstier."""
    gaps = take(poisson.gaps(10.0, burstiness, seed=3), 20000)
    assert statistics.fmean(gaps) == pytest.approx(0.1, rel=0.05)
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(cv, rel=0.08)


def test_infinite_burstiness_is_a_constant_rate_and_nonsense_is_refused() -> None:
    assert take(poisson.gaps(4.0, math.inf), 3) == [0.25, 0.25, 0.25]
    with pytest.raises(ValueError, match="positive"):
        next(poisson.gaps(0.0))


def test_a_pacer_gives_its_share_on_the_monotonic_clock_or_now_in_a_closed_loop() -> None:
    pacer = poisson.Pacer()
    pacer.start(5.0, seed=2, index=1, count=2)
    due = [pacer.claim() - pacer.origin for _ in range(3)]
    assert due == pytest.approx(take(poisson.share(poisson.schedule(5.0, seed=2), 1, 2), 3))
    pacer.start(0.0)
    assert abs(pacer.claim() - pacer.origin) < 1.0
