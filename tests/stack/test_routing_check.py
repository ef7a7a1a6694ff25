"""The routing check's balance warning (the check itself runs against simulated engines in
tests/platforms/test_local_sim.py and against vLLM in the stack tests)."""

from __future__ import annotations

from collections import Counter

from lab.stack import routing_check


def test_one_engine_serving_most_requests_is_warned_naming_the_knobs(capsys) -> None:
    said = routing_check.warn_unbalanced(Counter({"engine-0": 15, "engine-1": 1}))
    assert "engine-0 served 94% of the requests (more than 70%)" in said
    assert "router.policy.balance_abs_threshold" in said
    assert "router.policy.prefix_min_match_length" in said
    assert said in capsys.readouterr().out


def test_a_share_up_to_the_limit_is_not_warned(capsys) -> None:
    assert routing_check.warn_unbalanced(Counter({"engine-0": 7, "engine-1": 3})) == ""
    assert capsys.readouterr().out == ""
