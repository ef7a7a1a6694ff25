"""The client's time limits: one set of defaults, whether a profile states them or not."""

from __future__ import annotations

import dataclasses

from lab.config import profile
from lab.config.timeouts import Timeouts
from lab.config.validation import schema


def test_the_schema_and_the_locust_user_default_to_the_same_limits() -> None:
    """The Locust user started on its own (the web UI) takes Timeouts' defaults; a profile
    takes the schema's. They must be the same numbers."""
    documented = schema("lab-profile")["properties"]["load"]["properties"]["timeouts"]
    for field in dataclasses.fields(Timeouts):
        assert documented["properties"][field.name]["default"] == field.default, field.name


def test_a_profile_without_timeouts_gets_the_defaults() -> None:
    assert profile.load("cpu").resolved["load"]["timeouts"] == dataclasses.asdict(Timeouts())
