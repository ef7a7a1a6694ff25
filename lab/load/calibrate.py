"""Repeated runs of one configuration, to measure how much its figures move from run to run on
this machine (`lab calibrate`; the noise profile itself is lab.compare.noise's).

Each run is a whole lab, as in `lab ab`: up, the scenarios, down. A comparison of two runs made
at different times (two CI jobs, two days) sees a fresh stack on each side, so the noise
profile must include what a new bring-up changes as well as the machine's drift.

    results/calibration-<UTC time>-<profile>/
        <run>/ ...        results folders (lab.results.folder): a folder of runs, which compare
                          also takes as a baseline side
        noise.json        the noise profile (written when the runs are done)
"""

from __future__ import annotations

from pathlib import Path

from lab import platforms
from lab.console import say
from lab.load import ab
from lab.results import folder as results


def run(
    arm: ab.Arm, repeat: int, requested_platform: str | None, names: list[str], base: Path
) -> Path:
    """Run the arm `repeat` times, each on a fresh stack, into a new calibration folder."""
    ab.check([arm], repeat, names)
    platform, why = platforms.choose(requested_platform, arm.profile)
    folder = results.new_folder(base, f"calibration-{results.stamp()}-{arm.profile.name}")
    say(
        f"📏 calibration: {repeat} runs of {arm.profile.name} {' '.join(arm.sets)} on {platform} "
        f"({why}); each brings the stack up and down (about a minute per bring-up locally)"
    )
    for turn in range(1, repeat + 1):
        say(f"📏 run {turn}/{repeat}")
        ab.one_run(arm, platform, names, folder)
    return folder
