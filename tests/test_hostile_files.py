"""Hostile and broken files, generated (Hypothesis): a results folder, a noise profile and a
state file, each corrupted, and handed to the command that reads it. Whatever the file holds,
the lab ends with an exit status it documents (0, 1, 2 or 3), never a traceback, and writes
nothing outside `--out`. `lab.cli.main` catches only the lab's own errors (ConfigError,
LabError), so any other exception a corruption raises fails the test here rather than being
caught. A fixed seed (derandomize) and few examples keep this in the fast tier.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lab import cli
from lab.config.validation import violations
from tests.helpers.lab import lab_main
from tests.test_bad_input import RUN, snapshot, state

EXAMPLES = settings(
    derandomize=True,  # the same examples every run: a failure is never a fluke of the seed
    max_examples=30,
    deadline=None,  # a loaded machine must not fail a test for being slow
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
STATUSES = {0, 1, 2, 3}
# Metrics whose computation is cheap: the readers run whole whatever is compared.
METRICS = "error_rate,prefix_cache_hit_rate,session_stickiness,slo_attainment"
RESULT_FILES = (
    "manifest.json",
    "routing/requests.csv",
    "routing/engines.csv",
    "routing/summary.json",
    "throughput/requests.csv",
    "throughput/summary.json",
)

# What a broken or hostile file tends to hold, beside bytes at random.
TOKENS = st.sampled_from(
    [b"NaN", b"-Infinity", b"1e999", b"-1", b"0", b"OK", b"nan", b"inf", b",", b"\n", b'"',
     b"\x00", b"\xff", b"[", b"{", b"}", b"1208925819614629174706176", b"\r\n", b",,,,"]
)  # fmt: skip
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def corrupted(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with one to three edits: a token or random bytes put in, a span cut out, or
    the file cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["token", "bytes", "cut", "truncate"]))
        if edit == "token":
            data[at:at] = draw(TOKENS)
        elif edit == "bytes":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "cut":
            del data[at : at + draw(st.integers(1, 40))]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def json_edited(draw: st.DrawFn, document: object) -> bytes:
    """`document` with one value, anywhere in it, replaced by a generated one (NaN, infinity,
    huge numbers, wrong types), written as Python's json writes it (NaN and all)."""
    places: list[tuple[object, object]] = []

    def walk(node: object) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)  # type: ignore[union-attr]
        for key, value in list(items):
            places.append((node, key))
            if isinstance(value, dict | list):
                walk(value)

    copy = json.loads(json.dumps(document))
    if isinstance(copy, dict | list):
        walk(copy)
    if places:
        parent, key = draw(st.sampled_from(places))
        parent[key] = draw(JSON_VALUES)  # type: ignore[index]
    return json.dumps(copy).encode()


def outside(work: Path, out: str) -> dict[str, str]:
    """The snapshot of `work`, but for what is under `out`."""
    return {k: v for k, v in snapshot(work).items() if k != out and not k.startswith(f"{out}/")}


def fresh(base: Path) -> Path:
    """A new empty working folder under `base` (one per example)."""
    number = sum(1 for _ in base.iterdir())
    work = base / f"example-{number}"
    work.mkdir()
    return work


def ended_as_documented(done, before: dict[str, str], after: dict[str, str]) -> None:
    said = done.stdout + done.stderr
    assert "Traceback" not in said, said
    assert done.returncode in STATUSES, said
    assert after == before, "written outside --out"


@st.composite
def broken_results(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(RESULT_FILES))
    original = (RUN / name).read_bytes()
    if name.endswith(".json") and draw(st.booleans()):
        return name, draw(json_edited(json.loads(original)))
    return name, draw(corrupted(original))


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.fixture(scope="module")
def workplace(tmp_path_factory) -> Path:
    """One copy of the recorded run for every example: each puts its broken file in, and the
    original back after."""
    work = tmp_path_factory.mktemp("hostile-results")
    shutil.copytree(RUN, work / "run")
    return work


@EXAMPLES
@given(broken=broken_results())
# What the issue found, always tried beside what is generated.
@example(broken=("manifest.json", b'{"schema_version": 1\xff}'))
@example(broken=("routing/summary.json", b'{"levels": ' + deep(100_000) + b"}"))
@example(broken=("routing/engines.csv", (RUN / "routing/engines.csv").read_bytes() + b"\xe9\n"))
@example(
    broken=("routing/requests.csv", (RUN / "routing/requests.csv").read_bytes() + b"x" * 2**17)
)
def test_a_corrupted_results_folder_is_compared_or_refused(workplace, broken) -> None:
    name, content = broken
    target = workplace / "run" / name
    target.write_bytes(content)
    try:
        before = outside(workplace, "out")
        done = lab_main(
            "compare", str(RUN), "run", "--metrics", METRICS, "--out", "out",
            state_dir=workplace / ".lab", cwd=workplace,
        )  # fmt: skip
        ended_as_documented(done, before, outside(workplace, "out"))
    finally:
        shutil.copyfile(RUN / name, target)
        shutil.rmtree(workplace / "out", ignore_errors=True)


NOISE = {
    "schema_version": 1, "lab_version": "0", "created": "2026-11-27T06:00:00+00:00",
    "profile_name": "cpu", "profile": {}, "platform": "local", "host": {},
    "runs": ["a", "b", "c"], "bootstrap_resamples": 10,
    "entries": [
        {"scenario": scenario, "level": scenario, "metric": "error_rate", "scale": "value",
         "runs": 3, "values": [0.0, 0.01, 0.02], "sd": 0.01, "within_sd": 0.005,
         "between_sd": 0.008, "df": 2}
        for scenario in ("routing", "throughput")
    ],
}  # fmt: skip


def test_the_noise_profile_the_examples_start_from_is_valid() -> None:
    assert violations(NOISE, "noise-profile") == []


@EXAMPLES
@given(content=st.one_of(json_edited(NOISE), corrupted(json.dumps(NOISE).encode())))
@example(content=json.dumps(NOISE).replace('"sd": 0.01', '"sd": NaN').encode())
@example(content=deep(100_000))
def test_a_corrupted_noise_profile_is_used_or_refused(tmp_path, content) -> None:
    work = fresh(tmp_path)
    (work / "noise.json").write_bytes(content)
    before = outside(work, "out")
    done = lab_main(
        "compare", str(RUN), str(RUN), "--metrics", "error_rate", "--noise", "noise.json",
        "--out", "out", state_dir=work / ".lab", cwd=work,
    )  # fmt: skip
    ended_as_documented(done, before, outside(work, "out"))


STATE = json.loads(state()) | {
    "endpoints": {
        "router": "http://127.0.0.1:9", "engines": [{"name": "engine-0", "url": "http://127.0.0.1:9"}],
        "model": "tiny", "routing": "roundrobin", "session_key": "x-user-id",
    },
    "processes": [
        {"name": "engine-0", "pid": 2**22 + 17, "started": 1.5e9, "log": "e.log", "cmd": ["x"]}
    ],
}  # fmt: skip


def test_the_state_the_examples_start_from_is_valid() -> None:
    assert violations(STATE, "lab-state") == []


@EXAMPLES
@given(content=st.one_of(json_edited(STATE), corrupted(json.dumps(STATE).encode())))
@example(content=deep(100_000))
def test_a_corrupted_state_file_is_read_or_refused(tmp_path, content) -> None:
    """`down --dry-run` reads the state and says what it would stop, stopping nothing."""
    work = fresh(tmp_path)
    (work / ".lab").mkdir()
    (work / ".lab" / "state.json").write_bytes(content)
    before = snapshot(work)
    done = lab_main("down", "--dry-run", state_dir=work / ".lab", cwd=work)
    ended_as_documented(done, before, snapshot(work))


def test_the_cli_catches_only_the_labs_own_errors() -> None:
    """Any other exception reaches the examples above as itself, and fails them."""
    tree = ast.parse(Path(cli.__file__).read_text())
    (main,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    caught = {
        ast.unparse(handler.type) if handler.type else "everything"
        for handler in ast.walk(main)
        if isinstance(handler, ast.ExceptHandler)
    }
    assert caught == {"ConfigError", "LabError", "KeyboardInterrupt"}
