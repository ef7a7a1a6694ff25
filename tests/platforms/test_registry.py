"""The platform registry: what each platform declares, asked instead of its name."""

from __future__ import annotations

import pytest

from lab import platforms
from lab.cli import build_parser
from lab.errors import ConfigError
from lab.platforms import protocol
from lab.platforms.protocol import Facts, Shorthand


def test_the_registry_lists_each_platform_once_in_the_order_the_lab_says_them() -> None:
    assert platforms.PLATFORMS == ("local", "kind", "minikube", "existing", "compose", "attach")
    assert platforms.named(protocol.RESTART_ROUTER) == ("local", "compose")
    assert platforms.named(protocol.ENGINES_HERE) == ("local", "kind", "minikube", "compose")
    assert platforms.said(platforms.named(protocol.CLUSTER_WORKERS)) == "kind, minikube or existing"


def test_a_name_the_registry_does_not_hold_is_refused_with_the_names_it_does() -> None:
    with pytest.raises(
        ConfigError, match=r"'nomad' is not available .*have: attach, compose, existing"
    ):
        platforms.get("nomad")


def test_an_unknown_capability_is_refused_when_declared() -> None:
    with pytest.raises(ConfigError, match="unknown capabilities \\['teleport'\\]"):
        Facts("remote", platforms.REGISTRY["local"].make, frozenset({"teleport"}))


def test_a_platforms_shorthand_is_a_set_on_every_verb_that_reads_a_profile(monkeypatch) -> None:
    """A later platform adds `--remote URL` without touching lab.cli."""
    target = Shorthand("--remote", "remote.url", "URL", "the stack's router")
    remote = Facts("remote", platforms.REGISTRY["local"].make, frozenset(), shorthands=(target,))
    monkeypatch.setattr(platforms, "DECLARED", (*platforms.DECLARED, remote))
    parser = build_parser()
    args = parser.parse_args(["up", "--set", "a=1", "--remote", "http://x:8000", "--set", "b=2"])
    assert args.sets == ["a=1", "remote.url=http://x:8000", "b=2"]
    assert parser.parse_args(["run", "--remote", "u"]).sets == ["remote.url=u"]
    assert build_parser().parse_args(["up"]).sets == []


def test_attach_contributes_target_which_also_chooses_the_platform() -> None:
    parser = build_parser()
    for verb in ("up", "cycle", "ui", "calibrate"):
        args = parser.parse_args([verb, "--target", "http://h:8000"])
        assert args.sets == ["platform=attach", "target.router=http://h:8000"], verb


def test_the_typed_details_read_drains_as_the_platform_recorded_them() -> None:
    from lab.stack.state import State

    drained = {"engine": "engine-1", "began": 5.0, "seconds": 1.5, "complete": True,
               "signals": ["router"], "last": {}}  # fmt: skip
    (found,) = platforms.details(State("local", {}, "cpu", details={"drains": [drained]})).drains
    assert (found.engine, found.began, found.complete, found.to_json()) == (
        "engine-1", 5.0, True, drained)  # fmt: skip
    assert platforms.details(State("compose", {}, "cpu")).drains == ()


def test_a_scenario_the_platform_cannot_play_is_refused_before_anything(
    tmp_path, monkeypatch
) -> None:
    from dataclasses import replace

    from lab.config import profile
    from lab.load import lifecycle

    unable = replace(platforms.REGISTRY["local"], capabilities=frozenset())
    monkeypatch.setitem(platforms.REGISTRY, "local", unable)
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    lab = profile.load("cpu-resilience")
    with pytest.raises(ConfigError) as refused:
        lifecycle.check(lab, platforms.get("local", dry_run=True))
    said = "\n".join(refused.value.problems)
    assert "the local platform cannot kill engines" in said
    assert "the local platform cannot restart engines" in said
    assert "the local platform cannot scale engines" in said
