"""Scenario kinds are classes in a registry (lab.config.kinds): each declares its options (held
here against its part of the profile schema), its levels, its figures, and its gate or why it
has none; compare's gate and the results' figures ask the registry, not a list of their own."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from lab.compare import gate
from lab.compare import metrics as compare_metrics
from lab.config import kinds, profile
from lab.config.kinds.base import LEVEL, REGISTRY, RESILIENCE, ROUTING, Kind, register
from lab.config.validation import schema


def test_the_registry_holds_every_kind_the_schema_names() -> None:
    enum = schema("lab-profile")["$defs"]["scenario"]["properties"]["kind"]["enum"]
    assert sorted(REGISTRY) == sorted(enum)


@pytest.mark.parametrize("kind", kinds.every(), ids=lambda k: k.name)
def test_a_kind_s_options_are_its_part_of_the_schema(kind: type[Kind]) -> None:
    part = schema("lab-profile")["$defs"][f"{kind.name}Scenario"]
    assert part["properties"]["kind"] == {"const": kind.name}
    assert set(part["properties"]) == {f.name for f in dataclasses.fields(kind.options)}


@pytest.mark.parametrize("kind", kinds.every(), ids=lambda k: k.name)
def test_a_kind_gates_metrics_compare_knows_or_says_why_not(kind: type[Kind]) -> None:
    assert bool(kind.gated) != bool(kind.ungated)
    assert set(kind.gated) <= set(compare_metrics.BY_NAME)
    for metric in kind.gated:
        assert kind.name in gate.DEFAULT[metric]


def test_a_kind_that_declares_no_gate_nor_why_is_refused() -> None:
    class Marathon(Kind):
        name = "marathon"
        options = object
        figures: ClassVar[tuple[str, ...]] = (LEVEL,)

    with pytest.raises(TypeError, match="marathon: expected either gated metrics or the reason"):
        register(Marathon)
    Marathon.ungated = "judged by its own drift, not against another run"
    try:
        register(Marathon)
        assert "marathon" not in gate.FIXED  # the gate was built at import: only registered kinds
    finally:
        del REGISTRY["marathon"]


def test_a_kind_without_figures_is_refused() -> None:
    class Bare(Kind):
        name = "bare"
        options = object
        ungated = "a test"

    with pytest.raises(TypeError, match="Bare declares no figures"):
        register(Bare)
    assert "bare" not in REGISTRY


def test_every_kind_plans_its_levels_or_searches() -> None:
    loaded = {s.kind: s for name in ("cpu", "cpu-resilience", "cpu-capacity", "cpu-soak",
                                         "faults")
              for s in profile.load(name).scenarios}  # fmt: skip
    # No shipped profile replays a trace (a trace is the user's own file): one on the cpu stack.
    replay = profile.load("cpu", ["scenarios=[{name: r, kind: replay, source: t.jsonl}]"])
    loaded["replay"] = replay.scenarios[0]
    assert set(loaded) == set(REGISTRY)
    for name, scenario in loaded.items():
        kind = kinds.get(name)
        if kind.searches:
            with pytest.raises(TypeError, match="plan their levels as they run"):
                kind.levels(scenario)
        else:
            assert kind.levels(scenario)


def test_resilience_figures_belong_to_the_kinds_that_make_events() -> None:
    assert {k.name for k in kinds.every() if RESILIENCE in k.figures} == {
        "failover",
        "scale",
        "faults",
    }
    assert {k.name for k in kinds.every() if ROUTING in k.figures} == {"routing"}
