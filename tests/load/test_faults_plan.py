"""A faults scenario's events, planned on the lab that is up: in time order, and refused before
any load when that lab cannot inject them (a `run` of another profile than the one it came up
with). No stack: the events are planned, not run."""

from __future__ import annotations

import pytest

from lab.config import profile
from lab.errors import ConfigError, StepFailed
from lab.load import faults
from lab.stack import endpoints, fault_control
from lab.stack.endpoints import Engine
from lab.stack.state import State


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))


def up_on(platform: str, lab: profile.Profile) -> State:
    engines = [Engine(f"engine-{i}", f"http://127.0.0.1:{8000 + i}") for i in range(2)]
    where = endpoints.local(lab, engines, 30080, 29000, "http://127.0.0.1:9090", "")
    return State(
        platform=platform, profile=lab.resolved, profile_source=lab.source, endpoints=where
    )


def test_each_fault_begins_and_ends_in_time_order_with_the_token_made_at_bring_up() -> None:
    lab = profile.load("faults")
    fault_control.env(lab, fresh=True)
    planned = faults.events(lab.scenarios[0], object(), up_on("local", lab), lab)
    assert [(at, name) for at, name, _ in planned][:4] == [
        (20, "kill engine-1"), (40, "kill engine-1 end"),
        (100, "hang engine-1"), (120, "hang engine-1 end"),
    ]  # fmt: skip
    assert [name for _, name, _ in planned][-3:] == [
        "router_restart",
        "prometheus_down",
        "prometheus_down end",
    ]


def test_engines_that_came_up_without_the_control_refuse_slow_and_errors() -> None:
    lab = profile.load("faults")
    assert not fault_control.made()
    with pytest.raises(StepFailed, match="need the engines' run-time control"):
        faults.events(lab.scenarios[0], object(), up_on("local", lab), lab)


def test_a_lab_up_elsewhere_refuses_what_its_platform_cannot_inject() -> None:
    lab = profile.load("faults")
    with pytest.raises(ConfigError, match="the kind platform cannot inject the hang fault"):
        faults.events(lab.scenarios[0], object(), up_on("kind", lab), lab)


def test_the_token_is_this_lab_s_own_file_and_goes_with_it() -> None:
    lab = profile.load("faults")
    made = fault_control.env(lab, fresh=True)
    assert made == {"LAB_FAULT_TOKEN": fault_control.token()}
    assert fault_control.env(lab, fresh=True) != made  # a new bring-up, a new token
    assert fault_control.env(profile.load("cpu"), fresh=True) == {}  # no faults: control off
    fault_control.clear_token()
    with pytest.raises(StepFailed, match="without run-time fault control"):
        fault_control.token()
