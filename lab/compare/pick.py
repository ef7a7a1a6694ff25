"""Which two runs `lab compare` compares when it is named none (`nox -s compare`), and the
baseline a user sets for it (`lab baseline set|show|clear`).

The newest completed run (by its manifest's start time) is B. A is the baseline when one is
set, else the previous completed run of the same profile that has a scenario level in common
with B. Anything else is refused with one line saying why (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.compare import runsets
from lab.console import note, ok, say
from lab.errors import ConfigError
from lab.results import catalog

HOW = (
    "run the lab again, set a baseline (python -m lab baseline set RUN) or name two runs "
    "(nox -s compare -- RUN_A RUN_B)"
)


@dataclass(frozen=True)
class Choice:
    a: Path
    b: Path
    why_a: str  # why A is what B is compared against
    why_b: str


def runs(named: list[str], base: Path) -> tuple[Path, Path]:
    """The two runs to compare: those named, or, when none is, the pick (said on the
    terminal)."""
    if len(named) == 2:
        return Path(named[0]), Path(named[1])
    if named:
        raise ConfigError(f"compare takes two runs, or none to pick them; got {len(named)}")
    choice = pick(base)
    say(f"🔎 B = {choice.b}: {choice.why_b}")
    say(f"🔎 A = {choice.a}: {choice.why_a}")
    return choice.a, choice.b


def pick(base: Path) -> Choice:
    """The newest completed run against the baseline, else against its profile's previous
    run; ConfigError with the reason when there are not two such runs."""
    found = catalog.completed_runs(base)
    if not found:
        raise ConfigError(f"{base}: no completed run to compare; {HOW}")
    newest = found[-1]
    baseline = catalog.read_baseline(base)
    if baseline is not None:
        return _against_baseline(base, newest, baseline)
    return _against_previous(base, newest, found[:-1])


def _against_baseline(base: Path, newest: catalog.Listed, baseline: Path) -> Choice:
    file = catalog.baseline_file(base)
    if not baseline.exists():
        raise ConfigError(
            f"{file}: the baseline {baseline} is gone; set another, or clear it "
            "(python -m lab baseline clear)"
        )
    mine = newest.folder.resolve()
    if mine == baseline.resolve() or baseline.resolve() in mine.parents:
        raise ConfigError(f"{newest.folder} is the newest completed run and the baseline: "
                          "nothing newer to compare it with")  # fmt: skip
    return Choice(baseline, newest.folder, f"the baseline set in {file}", _newest(base, newest))


def _against_previous(base: Path, newest: catalog.Listed, earlier: list[catalog.Listed]) -> Choice:
    if not earlier:
        raise ConfigError(f"{base}: {newest.folder.name} is the only completed run; {HOW}")
    same = [run for run in earlier if run.profile == newest.profile and run.units & newest.units]
    if not same:
        raise ConfigError(
            f"{base}: no completed run before {newest.folder.name} is of profile "
            f"{newest.profile} with a scenario level in common; {HOW}"
        )
    previous = same[-1]
    why = f"the previous completed run of profile {previous.profile} ({_when(previous)})"
    return Choice(previous.folder, newest.folder, why, _newest(base, newest))


def _newest(base: Path, newest: catalog.Listed) -> str:
    return f"the newest completed run in {base} (profile {newest.profile}, {_when(newest)})"


def _when(run: catalog.Listed) -> str:
    return f"started {run.manifest.started}"


def set_baseline(base: Path, run: Path) -> None:
    """Check that `run` is a results folder (or a folder of them) compare can read, then name
    it as the baseline."""
    runsets.load(run)
    file = catalog.save_baseline(base, run)
    ok(f"baseline: {run} (in {file}); nox -s compare now compares the newest run against it")


def show_baseline(base: Path) -> None:
    baseline = catalog.read_baseline(base)
    if baseline is None:
        note(f"no baseline set in {base}: compare picks the previous run of the same profile")
    elif not baseline.exists():
        say(f"baseline: {baseline} (gone: set another, or clear it)")
    else:
        say(f"baseline: {baseline}")


def clear_baseline(base: Path) -> None:
    if catalog.clear_baseline(base):
        ok(f"baseline cleared in {base}: compare picks the previous run of the same profile")
    else:
        note(f"no baseline was set in {base}")
