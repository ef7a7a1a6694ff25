"""Side-by-side A/B (`lab ab --concurrent`): both configurations up at once on the local
platform, each with its own engines, router, ports and state directory; one load generator
sends each request (or each conversation) at random to A or B (lab.inproc.arms), so the drift of
a shared machine falls on both alike; `compare` takes each repetition's two arms as a pair
(lab.compare.stats.paired).

Each arm gets half the scenario's load: the users and rates are the scenario's, split between
the arms, so the machine carries what a single run carries and its CPU contention is the one
the profile was sized for (twice the load would overload the two cores the `cpu` profiles are
sized for, and measure that instead). Each arm's figures are thus those of half the load.

Both stacks come up fresh for every repetition (--repeat) and go down after it; each
repetition is one results folder per arm, and `compare` reads A/ and B/ as pairs.

Which arm comes up first swaps every repetition (A then B, B then A, …; lab.load.ab.turn), as
interleaved ab swaps which runs first. The arm up first has the lower ports, had its engines
warm a minute longer, and has its router as the load generator's host; always A, that was a
constant difference between arms that no pairing cancels: four ten-pair A/As on two cores put
B's TTFT p50 at c4 6% below A's (t = -3.8 over 40 pairs). Its sign changed in a later session,
so no value is assumed for it: swapped, it cancels over each two pairs, and `compare` judges
the pairs as an AB/BA crossover (lab.compare.stats.paired), which measures it within the
comparison and keeps it out of the pairs' spread (docs/compare.md).

    results/ab-<UTC time>/
        ab.json            the plan: profiles, overrides, design, the runs
        mixed/<run>/       each repetition as the load generator saw it (requests carry an arm)
        A/<run>/, B/<run>/ each arm's share: manifest (with `ab`), requests, engines, summary
        windows.json       the time-stratified view (lab.results.paired)
        compare/           lab compare A B
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab import platforms
from lab.config.kinds import FailoverScenario, FaultsScenario, ScaleScenario
from lab.console import say
from lab.errors import ConfigError
from lab.inproc.arms import ARMS_ENV
from lab.load import ab, lifecycle, scenarios
from lab.platforms import Platform
from lab.platforms.protocol import SIDE_BY_SIDE
from lab.results import figures, paired, report, summary
from lab.results import folder as results
from lab.results import manifest as manifests
from lab.stack.endpoints import Engine
from lab.stack.state import State

Stacks = dict[str, tuple[Platform, State]]


def check(arms: list[ab.Arm], platform: str, names: list[str]) -> None:
    """Refuse what cannot run side by side, before anything starts."""
    problems = []
    if not platforms.can(platform, SIDE_BY_SIDE):
        where = platforms.said(platforms.named(SIDE_BY_SIDE))
        problems.append(
            f"--concurrent: two stacks side by side run on the {where} platform only, not on "
            f"{platform}; run the interleaved ab there (without --concurrent)"
        )
    a, b = (arm.profile for arm in arms)
    for part in ("model", "scenarios"):
        if a.resolved[part] != b.resolved[part]:
            problems.append(
                f"--concurrent: A ({a.source}) and B ({b.source}) differ in {part}: one load "
                "generator plays one set of scenarios against one model name on both"
            )
    chosen = [a.scenario(n) for n in names] if names else list(a.scenarios)
    for scenario in chosen:
        if isinstance(scenario, FailoverScenario | ScaleScenario | FaultsScenario):
            problems.append(
                f"--concurrent: scenario {scenario.name} ({scenario.kind}) acts on one stack's "
                "engines; leave it out (--scenario) or run the interleaved ab"
            )
    if problems:
        raise ConfigError(problems)


def run(
    arms: list[ab.Arm],
    repeat: int,
    requested_platform: str | None,
    names: list[str],
    base: Path,
) -> Path:
    """Both arms up, `repeat` runs of the scenarios spread over them, both down; return the ab
    folder (compare A/ and B/ afterwards)."""
    platform = ab.checked_platform(arms, repeat, requested_platform, names)
    check(arms, platform, names)
    folder = ab.create(base)
    plan: dict[str, Any] = {
        "platform": platform,
        "design": "concurrent",
        "repeat": repeat,
        "arms": {a.label: {"profile": a.profile.source, "sets": list(a.sets)} for a in arms},
        "scenarios": names,
        "runs": [],
    }
    ab.save(folder, plan)
    say(f"🔀 A/B side by side: both arms up at once on {platform}, {repeat} run(s), each fresh")
    by_label = {arm.label: arm for arm in arms}
    for repetition in range(repeat):
        first, second = (by_label[label] for label in ab.turn(repetition))
        say(
            f"🔀 run {repetition + 1}/{repeat}: {first.label} and {second.label} side by side "
            f"({first.label} up first)"
        )
        with _both_up([first, second], platform) as stacks:
            plan["runs"].append(_one_run(arms, stacks, names, folder))
        ab.save(folder, plan)
    pairs = [(folder / r["A"], folder / r["B"]) for r in plan["runs"]]
    analysis = paired.analyse(pairs)
    say(f"⏱️  time-stratified view ({paired.write(folder, analysis)}):")
    for line in paired.lines(analysis):
        say(f"    {line}")
    return folder


@contextlib.contextmanager
def _both_up(arms: list[ab.Arm], platform: str) -> Iterator[Stacks]:
    """Both arms brought up in the order given, each in its own state directory, and down again
    afterwards (also after a failure or Ctrl-C). Fresh for every repetition, so that what a
    bring-up changes (an engine's compile, where its threads landed) differs from pair to pair
    and is in the pairs' spread, not a constant the paired test would take for the arms'
    difference."""
    stacks: Stacks = {}
    try:
        for arm in arms:
            with _environment("LAB_STATE_DIR", str(arm_state_dir(arm.label))):
                stacks[arm.label] = lifecycle.up(arm.profile, platform)
        yield stacks
    finally:
        for label in reversed(stacks):
            with _environment("LAB_STATE_DIR", str(arm_state_dir(label))):
                lifecycle.down()


def arm_state_dir(label: str) -> Path:
    """Each arm's own state directory, inside the lab's: a `python -m lab up` beside it is not
    refused, nor mistaken for an arm."""
    from lab.paths import state_dir

    return state_dir() / f"ab-{label}"


def _one_run(arms: list[ab.Arm], stacks: Stacks, names: list[str], folder: Path) -> dict:
    """One repetition's load over both stacks, split into each arm's share. A's profile drives
    the load (both arms play the same scenarios); the stacks are in the order they came up."""
    first = next(iter(stacks))
    routers = {label: s.require_endpoints().router for label, (_, s) in stacks.items()}
    with _environment(ARMS_ENV, json.dumps(routers)):
        mixed = scenarios.run(
            arms[0].profile, _both(stacks), names, folder / "mixed", stacks[first][0]
        )
    entry = {"mixed": str(mixed.relative_to(folder)), "first": first}
    for arm in arms:
        share = split(mixed, arm, stacks[arm.label][1], folder, first)
        entry[arm.label] = str(share.relative_to(folder))
    return entry


def _both(stacks: Stacks) -> State:
    """The state of the arm up first (its router is the load generator's host) with every
    engine of both arms, named A/engine-0, B/engine-0, …: the run reads all their counters,
    which `split` hands back to each arm."""
    first = next(iter(stacks.values()))[1]
    engines = [
        Engine(f"{label}/{e.name}", e.url)
        for label, (_, current) in stacks.items()
        for e in current.require_endpoints().engines
    ]
    return dataclasses.replace(first, endpoints=first.require_endpoints().with_engines(engines))


def split(mixed: Path, arm: ab.Arm, current: State, folder: Path, first: str) -> Path:
    """The arm's share of a mixed run, as a results folder of its own: its requests, its
    engines' counters, the summaries of those, a manifest of its profile and stack."""
    whole = manifests.read(mixed)
    out = results.create(folder / arm.label, arm.profile)
    manifest = manifests.start(
        arm.profile, current, platforms.images(current.platform, arm.profile)
    )
    manifest.started, manifest.ended = whole.started, whole.ended
    manifest.status, manifest.scenarios = whole.status, whole.scenarios
    manifest.ab = {
        "design": "concurrent",
        "arm": arm.label,
        "mixed": str(mixed.relative_to(folder)),
        "first": first,
    }
    for entry in whole.scenarios:
        place = out / entry.name
        place.mkdir()
        _split_requests(mixed / entry.name / "requests.csv", place / "requests.csv", arm.label)
        deltas = _split_engines(mixed / entry.name / "engines.csv", place, arm.label)
        _summarize(place, entry.levels, deltas, mixed / entry.name)
    manifests.Recorder(out, manifest)
    report.write(out)
    return out


def _split_requests(source: Path, target: Path, label: str) -> None:
    with source.open(newline="") as file_in, target.open("w", newline="") as file_out:
        reader = csv.DictReader(file_in)
        writer = csv.DictWriter(file_out, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        writer.writerows(row for row in reader if row.get("arm") == label)


def _split_engines(source: Path, place: Path, label: str) -> dict[str, dict]:
    """The arm's engines' counters per level, under their own names (engine-0, …)."""
    prefix = f"{label}/"
    mine = {
        level: {e[len(prefix) :]: c for e, c in engines.items() if e.startswith(prefix)}
        for level, engines in results.read_engines(source).items()
    }
    for level, deltas in mine.items():
        results.write_engines(place / "engines.csv", level, deltas)
    return mine


def _summarize(place: Path, levels: list[str], deltas: dict[str, dict], mixed: Path) -> None:
    """Each level's figures from the arm's own requests; the one load generator that served
    both arms was the limit of both, or of neither (the mixed run's client_limited)."""
    samples = summary.read_samples(place / "requests.csv")
    limited = results.read_summary(mixed).get("levels", {})
    units = {
        level: {
            **summary.summarize([s for s in samples if s.level == level], deltas.get(level, {})),
            "client_limited": limited.get(level, {}).get("client_limited"),
        }
        for level in levels
    }
    figures.write(place, units)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """`name` set to `value` for this process and the ones it starts (Locust, the engines),
    as it was afterwards."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
