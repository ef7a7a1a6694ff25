"""Bad input, as a hostile new user gives it: each case runs the CLI and must end with the exit
status docs/bad-input.md documents, one or a few lines on stderr, no traceback, and nothing
written (the working folder, which holds the state folder and every --out, is the same before
and after). No engine starts. Every case runs in this process through `lab.cli.main`, as
`python -m lab` calls it (a new interpreter per case cost most of this module's time); a few,
one of each kind of refusal, also run as `python -m lab` to show that what the user sees from
the real entry point is the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.config import profile, values
from tests.helpers.fakehttp import METRICS, NO_SERIES, answering, models, page
from tests.helpers.kubefakes import Fakes, kubeconfig_text
from tests.helpers.lab import lab_cli, lab_main
from tests.helpers.runs import RR1, RR2

RUN = sorted((Path(__file__).parent / "data" / "compare" / "roundrobin").iterdir())[0]
# One Mooncake request, and a replay scenario of it, for the trace cases.
MOONCAKE = '{"timestamp": 0, "input_length": 5, "output_length": 3, "hash_ids": [1]}\n'
REPLAY = "scenarios=[{name: r, kind: replay, source: t.jsonl, block_tokens: 512}]"
SECRET = "hf_" + "Q7" * 17  # shaped like a Hugging Face token; must never be printed

# Targets that answer wrongly, for the attach platform (served by this test process).
HTML = answering({"/v1/models": page(200, "<html><body>Welcome</body></html>", "text/html")})
NO_API = answering({})
NEEDS_TOKEN = answering({"/v1/models": page(401, "unauthorized")})
FORBIDS = answering({"/v1/models": page(403, "forbidden")})
ONE_MODEL = answering({"/v1/models": models("m1"), "/metrics": METRICS})
TWO_MODELS = answering({"/v1/models": models("a", "b")})
OTHER_ENGINE = answering({"/v1/models": models("m2"), "/metrics": METRICS})
EMPTY_PROMETHEUS = answering({"/api/v1/query": NO_SERIES})
NO_RELEASE = answering(  # a Kubernetes API that lists no router Service in vllm-lab
    {"/api/v1/namespaces/vllm-lab/services": page(200, '{"items": []}', "application/json")}
)


@dataclass(frozen=True)
class Case:
    """One bad input. In `args` and `env`, {work} is the case's working folder (its cwd)."""

    id: str
    args: tuple[str, ...]
    status: int
    says: str  # stderr holds this ({work} replaced)
    files: dict[str, str | bytes] = field(default_factory=dict)  # written under {work}
    prepare: Callable[[Path], None] | None = None  # makes folders under {work}
    env: dict[str, str] = field(default_factory=dict)
    tools: tuple[tuple[str, tuple[str, ...], str, int, str], ...] = ()  # fake tool answers
    lines: int = 3  # most lines stderr may have


def rendered(**changes) -> str:
    """The cpu profile's Helm values, valid, with `changes` to its first model."""
    document = values.render(profile.load("cpu"))
    document["servingEngineSpec"]["modelSpec"][0].update(changes)
    return values.to_yaml(document)


def state(platform: str = "local", **details) -> str:
    """A state file of `platform` with these details (a kind lab needs seven)."""
    lab = {"platform": platform, "profile": {"name": "cpu"}, "profile_source": "profiles/cpu.yaml"}
    return json.dumps(lab | {"created": 0.0, "processes": [], "details": details})


def state_running(**process: object) -> str:
    """A local state file with one process recorded, changed by `process` (NaN and infinity
    are written as Python's JSON writer writes them: NaN, Infinity)."""
    proc = {"name": "engine-0", "pid": 999999, "started": 1.0, "log": "e.log", "cmd": ["x"]}
    return json.dumps(json.loads(state()) | {"processes": [proc | process]})


def results_copy(edit: Callable[[Path], None]) -> Callable[[Path], None]:
    """A copy of a recorded run as {work}/run, then broken by `edit`."""

    def prepare(work: Path) -> None:
        shutil.copytree(RUN, work / "run")
        edit(work / "run")

    return prepare


def edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        manifest = json.loads((run / "manifest.json").read_text())
        change(manifest)
        (run / "manifest.json").write_text(json.dumps(manifest))

    return edit


def replace_in(name: str, old: str, new: str) -> Callable[[Path], None]:
    """Replace the first `old` in the run's file `name` (the first data row, for a CSV)."""

    def edit(run: Path) -> None:
        path = run / name
        path.write_text(path.read_text().replace(old, new, 1))

    return edit


def first_ttft(run: Path) -> str:
    header, row, *_ = (run / "routing" / "requests.csv").read_text().splitlines()
    return row.split(",")[header.split(",").index("ttft_ms")]


def break_first_ttft(value: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        replace_in("routing/requests.csv", f",{first_ttft(run)},", f",{value},")(run)

    return edit


def remove(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).unlink()


def make_dirs(*names: str) -> Callable[[Path], None]:
    return lambda work: [(work / name).mkdir(parents=True) for name in names]


def folder_of_runs(change: Callable[[dict], None], side: str = "runs") -> Callable[[Path], None]:
    """{work}/`side`: two recorded runs of one configuration, the second's manifest changed."""

    def prepare(work: Path) -> None:
        for run in (RR1, RR2):
            shutil.copytree(run, work / side / run.name)
        edit_manifest(change)(work / side / RR2.name)

    return prepare


def side_by_side_arms(work: Path) -> None:
    """{work}/A and {work}/B: the two arms of one side-by-side repetition (ab --concurrent)."""
    for arm, run in (("A", RR1), ("B", RR2)):
        shutil.copytree(run, work / arm / run.name)
        entry = {"design": "concurrent", "arm": arm, "mixed": "mixed/0", "first": "A"}
        edit_manifest(lambda manifest, entry=entry: manifest.update(ab=entry))(
            work / arm / run.name
        )


def state_with_profile(**changes) -> str:
    """A local state whose profile is the cpu profile as resolved, with `changes`."""
    lab = json.loads(state())
    lab["profile"] = {**profile.load("cpu").resolved, **changes}
    return json.dumps(lab)


FILE = {"file": "not a folder\n"}  # an --out or state folder under it cannot be made
MANY_KEYS = "name: p\n" + "".join(f"unknown{i}: 1\n" for i in range(80))
BAD_KUBECONFIG = 'error: error loading config file "/root/.kube/config": yaml: line 3: bad\n'


# Issue 34's files: what cannot be read as a file (lab.files), and numbers that are not finite.
GIGABYTE = 2**30
DEEP_JSON = "[" * 100_000 + "]" * 100_000
# Ten lists of ten aliases of the one before: 10**9 values once expanded, in 400 bytes.
ALIAS_BOMB = (
    "{a0: &a0 [x, x, x, x, x, x, x, x, x, x], "
    + ", ".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9))
    + "}"
)


def fifo(name: str) -> Callable[[Path], None]:
    """A FIFO at {work}/name: no writer ever comes, so a reader that opens it waits for ever."""

    def prepare(work: Path) -> None:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(work / name)

    return prepare


def hole(path: Path) -> None:
    """A gigabyte of nothing at `path`, made at once (a hole: no disk is used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        file.truncate(GIGABYTE)


def sparse(name: str) -> Callable[[Path], None]:
    return lambda work: hole(work / name)


def link(name: str, target: str) -> Callable[[Path], None]:
    def prepare(work: Path) -> None:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).symlink_to(target)

    return prepare


def in_run(name: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    """A copy of the recorded run whose file `name` is replaced by what `make` makes there."""

    def edit(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        make(run / name)

    return results_copy(edit)


def put(content: str | bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return make


def edit_row(name: str, column: str, value: str, keep: int | None = None) -> Callable[[Path], None]:
    """Set `column` of the first data row of the run's CSV file `name`; `keep` cuts the row to
    its first fields."""

    def edit(run: Path) -> None:
        path = run / name
        header, row, *rest = path.read_text().split("\n")
        fields = row.split(",")
        fields[header.split(",").index(column)] = value
        path.write_text("\n".join([header, ",".join(fields[:keep]), *rest]))

    return edit


def noise_json(sd: str = "0.1") -> str:
    """A noise profile of the schema's shape, its one entry's sd written as given."""
    entry = (
        '{"scenario": "routing", "level": "routing", "metric": "ttft_p50", "scale": "log", '
        f'"runs": 3, "values": [1, 2, 3], "sd": {sd}, "within_sd": 0.1, "between_sd": 0.1, '
        '"df": 2}'
    )
    return (
        '{"schema_version": 1, "lab_version": "0", "created": "now", "profile_name": "cpu", '
        '"profile": {}, "platform": "local", "host": {}, "runs": ["a", "b", "c"], '
        f'"bootstrap_resamples": 10, "entries": [{entry}]}}'
    )


def series(value: str) -> str:
    return f"time,level,source,metric,value\n1795759320,routing,engine-0,running,{value}\n"


# Another tool's results (lab import), as the tool wrote them, changed by `change`.
INTEROP = Path(__file__).parent / "data" / "interop"


def tool_file(name: str, change: Callable[[dict], None] = lambda data: None) -> str:
    data = json.loads((INTEROP / name).read_text())
    change(data)
    return json.dumps(data)


def vllm_file(change: Callable[[dict], None]) -> str:
    return tool_file("vllm-bench-detailed.json", change)


def guidellm_file(change: Callable[[dict], None]) -> str:
    return tool_file("guidellm-benchmarks.json", change)


def first_request(key: str, value: object) -> Callable[[dict], None]:
    return lambda data: data["benchmarks"][0]["requests"]["successful"][0].update({key: value})


def two_benchmarks(data: dict) -> None:
    data["benchmarks"] *= 2


CASES = [
    # Profiles and --set
    Case(
        "duplicate-key",
        ("values", "--profile", "DUP.yaml"),
        2,
        "DUP.yaml: line 2, column 1: key 'name' appears twice",
        {"DUP.yaml": "name: a\nname: b\n"},
    ),
    Case(
        "duplicate-key-nested",
        ("values", "--profile", "p.yaml"),
        2,
        "line 5, column 5: key 'kind'",
        {"p.yaml": "name: p\nscenarios:\n  - name: r\n    kind: routing\n    kind: throughput\n"},
    ),
    Case(
        "set-not-yaml",
        ("values", "--profile", "cpu", "--set", "engine.replicas=[1,"),
        2,
        "--set engine.replicas=[1,: the value: line 1, column 4: not valid YAML",
    ),
    Case(
        "set-python-tag",
        ("values", "--set", "engine.replicas=!!python/object/apply:os.system [ls]"),
        2,
        "YAML tags (!!...) are not allowed in a --set value",
    ),
    Case("set-plain-tag", ("values", "--set", "engine.replicas=!!str 3"), 2, "YAML tags"),
    Case(
        "set-blamed-not-the-file",
        ("values", "--profile", "cpu-resilience", "--set", "engine.replicas=1"),
        2,
        "--set engine.replicas=1: scenarios[0]: failover needs",
    ),
    Case("set-long-value", ("values", "--set", "name=" + "x" * 5000), 2, "(4805 more characters)"),
    Case(
        "set-nested-too-deeply",
        ("values", "--set", "engine.replicas=" + "[" * 1000),
        2,
        "the value: nested too deeply",
    ),
    Case("set-no-equals", ("values", "--set", "router.routing"), 2, "expected PATH=VALUE"),
    Case("set-bad-path", ("values", "--set", "a..b=1"), 2, "'' is not a key"),
    Case("set-index-missing", ("values", "--set", "scenarios[9].users=1"), 2, "index [9]"),
    Case(
        "set-wrong-type",
        ("values", "--set", "engine.replicas=many"),
        2,
        "--set engine.replicas=many: engine.replicas: 'many' is not of type 'integer'",
    ),
    Case(
        "many-violations",
        ("values", "--profile", "p.yaml"),
        2,
        "… and 30 more problems",
        {"p.yaml": MANY_KEYS},
        lines=51,
    ),
    Case(
        "binary-tag",
        ("values", "--profile", "p.yaml"),
        2,
        "the tag !!binary is not allowed",
        {"p.yaml": "name: p\nengine: !!binary aGk=\n"},
    ),
    Case(
        "profile-a-list",
        ("values", "--profile", "p.yaml"),
        2,
        "must be a mapping",
        {"p.yaml": "- a\n- b\n"},
    ),
    Case(
        "profile-empty", ("values", "--profile", "p.yaml"), 2, "not an empty file", {"p.yaml": ""}
    ),
    Case(
        "profile-not-text",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: cannot read profile",
        {"p.yaml": b"\xff\xfe\x00name: \x81\n"},
    ),
    Case(
        "profile-a-folder",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: cannot read profile",
        prepare=make_dirs("p.yaml"),
    ),
    Case("profile-missing", ("up", "--profile", "gone.yaml"), 2, "gone.yaml: no such profile"),
    Case(
        "profile-unknown-name", ("run", "--profile", "cpuu"), 2, "no such profile file or shipped"
    ),
    Case(
        "profile-tab",
        ("values", "--profile", "p.yaml"),
        2,
        "not valid YAML",
        {"p.yaml": "name: a\n\tbad: tab\n"},
    ),
    Case(
        "profile-unknown-key",
        ("up", "--profile", "p.yaml"),
        2,
        "did you mean 'replicas'?",
        {"p.yaml": "name: p\nengine: {replica: 2}\n"},
    ),
    # Helm values files
    Case(
        "values-duplicate-key",
        ("values", "--check", "v.yaml"),
        2,
        "key 'routingLogic' appears",
        {"v.yaml": "routerSpec:\n  routingLogic: roundrobin\n  routingLogic: session\n"},
    ),
    Case(
        "values-bad-enum",
        ("values", "--check", "v.yaml"),
        2,
        "routerSpec.routingLogic: 'prefix'",
        {"v.yaml": "routerSpec:\n  routingLogic: prefix\n"},
    ),
    Case(
        "values-a-list", ("values", "--check", "v.yaml"), 2, "must be a mapping", {"v.yaml": "[]"}
    ),
    Case("values-missing", ("values", "--check", "nothere.yaml"), 2, "no such Helm values file"),
    Case(
        "values-token-strict",
        ("values", "--check", "v.yaml", "--strict"),
        2,
        "modelSpec[0].hf_token: a Hugging Face token in clear text: use hf_token: {secretName",
        {"v.yaml": rendered(hf_token=SECRET)},
    ),
    Case(
        "values-token-warned",
        ("values", "--check", "v.yaml"),
        0,
        "warning: v.yaml: servingEngineSpec.modelSpec[0].hf_token",
        {"v.yaml": rendered(hf_token=SECRET)},
    ),
    Case(
        "values-env-token-strict",
        ("values", "--check", "v.yaml", "--strict"),
        2,
        "env[1].value: a secret-looking env var",
        {
            "v.yaml": rendered(
                env=[{"name": "A", "value": "1"}, {"name": "HF_TOKEN", "value": "x1"}]
            )
        },
    ),
    Case(
        "values-api-key-arg-strict",
        ("values", "--check", "v.yaml", "--strict"),
        2,
        "extraArgs[1]: an API key in clear text on the engine's command line",
        {"v.yaml": rendered(vllmConfig={"extraArgs": ["--dtype=auto", "--api-key", SECRET]})},
    ),
    # The state folder
    Case(
        "state-binary",
        ("status",),
        2,
        ".lab/state.json: not a state file this lab can use",
        {".lab/state.json": bytes(range(256))},
    ),
    Case(
        "state-a-folder", ("down",), 2, "remove it if no lab", prepare=make_dirs(".lab/state.json")
    ),
    Case(
        "state-a-list",
        ("smoke",),
        2,
        "(top level): [1, 2] is not of type 'object'",
        {".lab/state.json": "[1, 2]"},
    ),
    Case(
        "state-kind-without-details",
        ("down", "--dry-run"),
        2,
        "details: 'context' is a required",
        {".lab/state.json": state("kind")},
    ),
    Case(
        "state-kind-monitor",
        ("monitor",),
        2,
        "not a state file",
        {".lab/state.json": state("kind")},
    ),
    Case(
        "state-monitor-port-forward",
        ("monitor", "--port-forward"),
        2,
        "not a state file",
        {".lab/state.json": "[]"},
    ),
    Case(
        "state-unknown-platform",
        ("down",),
        2,
        "platform: 'laptop' is not one of",
        {".lab/state.json": state("laptop")},
    ),
    Case(
        "state-dir-a-file",
        ("status",),
        2,
        "LAB_STATE_DIR is not a folder",
        FILE,
        env={"LAB_STATE_DIR": "{work}/file"},
    ),
    Case(
        "state-dir-cannot-be-made",
        ("up", "--platform", "local"),
        2,
        "cannot keep the lab's state there",
        env={"LAB_STATE_DIR": "/proc/vllm-lab/state"},
    ),
    Case(
        "state-dir-name-too-long",
        ("status",),
        2,
        "LAB_STATE_DIR: 'sss",
        env={"LAB_STATE_DIR": "{work}/" + "s" * 300},
    ),
    Case(
        "state-dir-under-a-file",
        ("up", "--platform", "local"),
        2,
        "is not a folder",
        FILE,
        env={"LAB_STATE_DIR": "{work}/file/state"},
    ),
    # Results folders, --out
    Case(
        "compare-empty-folders",
        ("compare", "empty", "empty"),
        2,
        "not a results folder",
        prepare=make_dirs("empty"),
    ),
    Case(
        "compare-out-unwritable",
        ("compare", str(RUN), str(RUN), "--out", "file/out"),
        2,
        "--out file/out: file is not a folder",
        FILE,
    ),
    Case(
        "compare-scenario-a-path",
        ("compare", "run", str(RUN)),
        2,
        "scenarios[0].name: '../routing' does not match",
        prepare=results_copy(edit_manifest(lambda m: m["scenarios"][0].update(name="../routing"))),
    ),
    Case(
        "compare-nan-sample",
        ("compare", "run", str(RUN)),
        2,
        "requests.csv: line 2: ttft_ms: 'nan' is not a finite number",
        prepare=results_copy(break_first_ttft("nan")),
    ),
    Case(
        "compare-engines-missing",
        ("compare", "run", str(RUN)),
        2,
        "engines.csv missing, though",
        prepare=results_copy(remove("routing/engines.csv")),
    ),
    Case("compare-bad-alpha", ("compare", str(RUN), str(RUN), "--alpha", "0.7"), 2, "--alpha 0.7"),
    Case(
        "compare-bad-threshold",
        ("compare", str(RUN), str(RUN), "--threshold", "ttft=lots"),
        2,
        "--threshold ttft=lots",
    ),
    Case(
        "compare-paired-single-runs",
        ("compare", str(RUN), str(RUN), "--paired"),
        2,
        "--paired: pairs need as many runs on each side, at least 2",
    ),
    Case(
        "compare-bad-metric",
        ("compare", str(RUN), str(RUN), "--metrics", "latency"),
        2,
        "unknown metric latency",
    ),
    Case(
        "report-non-numeric",
        ("report", "run"),
        2,
        "line 2: ttft_ms: 'abc' is not a finite",
        prepare=results_copy(break_first_ttft("abc")),
    ),
    Case(
        "report-requests-missing",
        ("report", "run"),
        2,
        "requests.csv missing, though",
        prepare=results_copy(remove("routing/requests.csv")),
    ),
    Case(
        "report-summary-not-numbers",
        ("report", "run"),
        2,
        "summary.json: levels.routing.p50_ttft_ms: expected a number",
        prepare=results_copy(
            replace_in("routing/summary.json", '"p50_ttft_ms": ', '"p50_ttft_ms": "x", "y": ')
        ),
    ),
    Case(
        "report-unwritable",
        ("report", "run"),
        2,
        "report.html: a folder is in the way",
        prepare=results_copy(lambda run: (run / "report.html").mkdir()),
    ),
    Case(
        "report-name-too-long",
        ("report", "x" * 300),
        2,
        "argument folder: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' is longer than a file name",
    ),
    Case("compare-name-too-long", ("compare", str(RUN), "r" * 300), 2, "argument RUN: 'rrrr"),
    Case("report-not-a-folder", ("report", "nowhere"), 2, "nowhere: not a folder"),
    Case("run-out-unwritable", ("run", "--out", "file/results"), 2, "--out file/results", FILE),
    Case("cycle-unknown-scenario", ("cycle", "--scenario", "nope"), 2, "no scenario named 'nope'"),
    Case(
        "model-out-a-file", ("model", "tiny", "--out", "file"), 2, "--out file: file is not a", FILE
    ),
    # Arguments
    Case("ui-port-too-big", ("ui", "--web-port", "70000"), 2, "'70000' is not a port number"),
    Case("ui-port-words", ("ui", "--web-port", "http"), 2, "'http' is not a port number"),
    Case(
        "up-unknown-platform",
        ("up", "--platform", "laptop"),
        2,
        "error: vllm-lab up: argument --platform: invalid choice: 'laptop'",
    ),
    Case(
        "ab-repeat-zero", ("ab", "cpu", "cpu", "--repeat", "0"), 2, "--repeat 0: must be at least"
    ),
    Case(
        "ab-paired-one-turn",
        ("ab", "cpu", "cpu", "--paired", "--repeat", "1"),
        2,
        "--paired --repeat 1: pairs need --repeat 2 or more",
    ),
    Case(
        "ab-engine-refused",
        ("ab", "cpu", "cpu", "--platform", "local", "--set-b", "engine.gpu=1"),
        2,
        "engine.gpu: the local platform runs vLLM CPU engines",
    ),
    Case("ab-out-unwritable", ("ab", "cpu", "cpu", "--out", "file/ab"), 2, "--out file/ab", FILE),
    Case(
        "images-unknown", ("images", "build", "nothing", "--dry-run"), 2, "no image named nothing"
    ),
    # Tools that answer with something unexpected
    Case(
        "helm-not-json",
        ("up", "--platform", "existing", "--dry-run"),
        1,
        "helm repo list -o json answered something other than the JSON list asked for (exit 0): "
        "WARNING: garbage",
        tools=(("helm", ("repo", "list"), "WARNING: garbage\n", 0, ""),),
    ),
    Case(
        "kubectl-config-error",
        ("up", "--platform", "existing", "--dry-run"),
        2,
        f"no kube context (kubectl: {BAD_KUBECONFIG.strip()})",
        tools=(("kubectl", ("config", "current-context"), "", 1, BAD_KUBECONFIG),),
    ),
    Case(
        "kubectl-version-not-json",
        ("up", "--platform", "existing", "--dry-run"),
        1,
        "kubectl get --raw /version --context prod-cluster answered something other than the JSON",
        tools=(("kubectl", ("get", "--raw", "/version"), BAD_KUBECONFIG, 0, ""),),
    ),
    # issue 34: process ownership
    # issue 34: guarded reading, finite numbers, ranges
    Case(
        "profile-fifo",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: cannot read profile: a FIFO",
        prepare=fifo("p.yaml"),
    ),
    Case(
        "profile-dev-zero",
        ("values", "--profile", "/dev/zero"),
        2,
        "/dev/zero: cannot read profile: a device, not a regular file",
    ),
    Case(
        "profile-sparse-gigabyte",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: cannot read profile: 1024.0 MB, more than the 4 MB",
        prepare=sparse("p.yaml"),
    ),
    Case(
        "state-fifo",
        ("status",),
        2,
        "(unreadable: a FIFO, not a regular file)",
        prepare=fifo(".lab/state.json"),
    ),
    Case(
        "state-dev-zero",
        ("down",),
        2,
        "(unreadable: a device, not a regular file)",
        prepare=link(".lab/state.json", "/dev/zero"),
    ),
    Case(
        "state-sparse-gigabyte",
        ("status",),
        2,
        "(unreadable: 1024.0 MB, more than the 4 MB",
        prepare=sparse(".lab/state.json"),
    ),
    Case(
        "manifest-fifo",
        ("compare", "run", str(RUN)),
        2,
        "manifest.json: cannot read manifest: a FIFO",
        prepare=in_run("manifest.json", os.mkfifo),
    ),
    Case(
        "manifest-dev-zero",
        ("report", "run"),
        2,
        "manifest.json: cannot read manifest: a device",
        prepare=in_run("manifest.json", lambda path: path.symlink_to("/dev/zero")),
    ),
    Case(
        "manifest-sparse-gigabyte",
        ("compare", "run", str(RUN)),
        2,
        "manifest.json: cannot read manifest: 1024.0 MB",
        prepare=in_run("manifest.json", hole),
    ),
    Case(
        "noise-fifo",
        ("compare", str(RUN), str(RUN), "--noise", "n.json"),
        2,
        "n.json: cannot read noise profile: a FIFO",
        prepare=fifo("n.json"),
    ),
    Case(
        "noise-dev-zero",
        ("compare", str(RUN), str(RUN), "--noise", "/dev/zero"),
        2,
        "/dev/zero: cannot read noise profile: a device",
    ),
    Case(
        "noise-sparse-gigabyte",
        ("compare", str(RUN), str(RUN), "--noise", "n.json"),
        2,
        "n.json: cannot read noise profile: 1024.0 MB",
        prepare=sparse("n.json"),
    ),
    Case(
        "requests-a-folder",
        ("compare", "run", str(RUN)),
        2,
        "requests.csv: cannot read requests.csv: a folder",
        prepare=in_run("routing/requests.csv", Path.mkdir),
    ),
    Case(
        "manifest-nested-deep",
        ("compare", "run", str(RUN)),
        2,
        "manifest.json: nested deeper than 64 levels",
        prepare=in_run("manifest.json", put(DEEP_JSON)),
    ),
    Case(
        "summary-nested-deep",
        ("compare", "run", str(RUN)),
        2,
        "summary.json: nested deeper than 64 levels",
        prepare=in_run("routing/summary.json", put(f'{{"levels": {DEEP_JSON}}}')),
    ),
    Case(
        "noise-nested-deep",
        ("compare", str(RUN), str(RUN), "--noise", "n.json"),
        2,
        "n.json: nested deeper than 64 levels",
        {"n.json": DEEP_JSON},
    ),
    Case(
        "state-nested-deep",
        ("status",),
        2,
        "(unreadable: nested deeper than 64 levels)",
        {".lab/state.json": DEEP_JSON},
    ),
    Case(
        "profile-nested-deep",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: line 1, column 70: nested deeper than 64 levels",
        {"p.yaml": "name: " + "[" * 100 + "]" * 100},
    ),
    Case(
        "manifest-not-utf8",
        ("compare", "run", str(RUN)),
        2,
        "manifest.json: cannot read manifest: not UTF-8 text (byte 1 is b'\\xff')",
        prepare=in_run("manifest.json", put(b"{\xff}")),
    ),
    Case(
        "engines-not-utf8",
        ("compare", "run", str(RUN)),
        2,
        "engines.csv: cannot read engines.csv: not UTF-8 text (byte 178 is b'\\xe9')",
        prepare=in_run(
            "routing/engines.csv",
            put(
                b"level,engine,requests,prompt_tokens,generation_tokens,prefix_cache_queries,"
                b"prefix_cache_hits,prefix_cache_hit_rate\nrouting,engine-0,20,10694,320,10694,6528,"
                b"0.6104\nrouting,engine-\xe9,20,10694,320,10694,6528,0.6104\n"
            ),
        ),
    ),
    Case(
        "series-not-utf8",
        ("report", "run"),
        2,
        "engine_series.csv: cannot read engine_series.csv: not UTF-8 text (byte 30 is b'\\xff')",
        prepare=in_run("routing/engine_series.csv", put(series("1").encode()[:30] + b"\xff\n")),
    ),
    Case(
        "baseline-not-utf8",
        ("baseline", "show", "--results", "res"),
        2,
        "baseline.txt: cannot read baseline file: not UTF-8 text (byte 3 is b'\\xff')",
        {"res/baseline.txt": b"run\xff\n"},
    ),
    Case(
        "requests-field-128k",
        ("compare", "run", str(RUN)),
        2,
        "requests.csv: line 2: longer than 64 KiB",
        prepare=results_copy(edit_row("routing/requests.csv", "error", "x" * 2**17)),
    ),
    Case(
        "requests-short-row",
        ("compare", "run", str(RUN)),
        2,
        "requests.csv: line 2: 19 fields, expected 20 as in the header",
        prepare=results_copy(edit_row("routing/requests.csv", "itl_ms", "", keep=19)),
    ),
    Case(
        "requests-status-unknown",
        ("compare", "run", str(RUN)),
        2,
        "requests.csv: line 2: status: 'OK' is not one of ok, error",
        prepare=results_copy(edit_row("routing/requests.csv", "status", "OK")),
    ),
    Case(
        "requests-phase-unknown",
        ("report", "run"),
        2,
        "requests.csv: line 2: phase: 'warmup' is not one of run, drain",
        prepare=results_copy(edit_row("routing/requests.csv", "phase", "warmup")),
    ),
    Case(
        "series-not-a-number",
        ("report", "run"),
        2,
        "engine_series.csv: line 2: value: 'abc' is not a finite number",
        prepare=in_run("routing/engine_series.csv", put(series("abc"))),
    ),
    Case(
        "events-not-a-number",
        ("report", "run"),
        2,
        "events.csv: line 2: time: 'soon' is not a finite number",
        prepare=in_run("routing/events.csv", put("time,event,detail\nsoon,kill,engine-0\n")),
    ),
    Case(
        "profile-alias-bomb",
        ("values", "--profile", "p.yaml"),
        2,
        "more than 100,000 values once its aliases are expanded",
        {"p.yaml": ALIAS_BOMB},
    ),
    Case(
        "set-alias-bomb",
        ("values", "--profile", "cpu", "--set", f"engine.replicas={ALIAS_BOMB}"),
        2,
        "more than 100,000 values once its aliases are expanded",
    ),
    Case(
        "profile-alias-loop",
        ("values", "--profile", "p.yaml"),
        2,
        "an alias refers to a value holding it",
        {"p.yaml": "name: &a [*a]\n"},
    ),
    Case(
        "profile-nan",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: engine.gpu_memory_utilization: nan is not a finite number",
        {"p.yaml": "name: p\nengine: {gpu_memory_utilization: .nan}\n"},
    ),
    Case(
        "set-infinity",
        ("values", "--profile", "cpu", "--set", "router.policy.max_tree_size=.inf"),
        2,
        "--set router.policy.max_tree_size=.inf: the value: inf is not a finite number",
    ),
    Case(
        "set-huge-int",
        ("values", "--profile", "cpu", "--set", f"router.policy.max_tree_size={2**80}"),
        2,
        "the value: 1208925819614629174706176 is too large (at most 2**53)",
    ),
    Case(
        "set-above-router-maximum",
        ("values", "--profile", "cpu", "--set", "router.policy.max_tree_size=8589934592"),
        2,
        "8589934592 is greater than the maximum of 4294967295",
    ),
    Case(
        "set-test-delay-huge",
        ("values", "--profile", "cpu", "--set", "engine.test_delay.first_chunk_ms=4000000"),
        2,
        "is greater than the maximum of 3600000",
    ),
    Case(
        "manifest-nan",
        ("compare", "run", str(RUN)),
        2,
        "manifest.json: host.memory_gib: nan is not a finite number",
        prepare=results_copy(edit_manifest(lambda m: m["host"].update(memory_gib=float("nan")))),
    ),
    Case(
        "summary-infinity",
        ("compare", "run", str(RUN)),
        2,
        "summary.json: levels.routing.p50_ttft_ms: inf is not a finite number",
        prepare=results_copy(
            replace_in(
                "routing/summary.json", '"p50_ttft_ms": ', '"p50_ttft_ms": Infinity, "was": '
            )
        ),
    ),
    Case(
        "summary-capacity-nan",
        ("compare", "run", str(RUN)),
        2,
        "summary.json: capacity.capacity_rps: nan is not a finite number",
        prepare=results_copy(
            replace_in("routing/summary.json", "{", '{"capacity": {"capacity_rps": NaN}, ')
        ),
    ),
    Case(
        "noise-sd-nan",
        ("compare", str(RUN), str(RUN), "--noise", "n.json"),
        2,
        "n.json: entries[0].sd: nan is not a finite number",
        {"n.json": noise_json("NaN")},
    ),
    Case(
        "noise-sd-overflow",
        ("compare", str(RUN), str(RUN), "--noise", "n.json"),
        2,
        "n.json: entries[0].sd: inf is not a finite number",
        {"n.json": noise_json("1e999")},
    ),
    Case(
        "profile-number-5000-digits",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: not a number the lab can read (Exceeds the limit (4300 digits)",
        {"p.yaml": f"name: p\nengine: {{cpu: {'9' * 5000}}}\n"},
    ),
    Case(
        "noise-number-5000-digits",
        ("compare", str(RUN), str(RUN), "--noise", "n.json"),
        2,
        "n.json: not valid JSON (Exceeds the limit (4300 digits)",
        {"n.json": noise_json("9" * 5000)},
    ),
    Case(
        "state-started-nan",
        ("down",),
        2,
        "processes[0].started: nan is not a finite number): remove it if no lab",
        {".lab/state.json": state_running(started=float("nan"))},
    ),
    Case(
        "state-started-infinity",
        ("down",),
        2,
        "processes[0].started: inf is not a finite number",
        {".lab/state.json": state_running(started=float("inf"))},
    ),
    Case(
        "state-started-minus-infinity",
        ("status",),
        2,
        "processes[0].started: -inf is not a finite number",
        {".lab/state.json": state_running(started=float("-inf"))},
    ),
    Case(
        "state-started-overflows",
        ("down",),
        2,
        "processes[0].started: inf is not a finite number",
        {".lab/state.json": state_running(started=1.5).replace("1.5", "1e999")},
    ),
    Case(
        "state-started-a-string",
        ("down",),
        2,
        "processes[0].started: '1700000000' is not of type 'number'",
        {".lab/state.json": state_running(started="1700000000")},
    ),
    Case(
        "state-started-a-bool",
        ("down",),
        2,
        "processes[0].started: True is not of type 'number'",
        {".lab/state.json": state_running(started=True)},
    ),
    Case(
        "state-pid-infinity",
        ("down",),
        2,
        "(unreadable: processes[0].pid: inf is not a finite number)",
        {".lab/state.json": state_running(pid=float("inf"))},
    ),
    Case(
        "state-created-nan",
        ("down", "--dry-run"),
        2,
        "(unreadable: created: nan is not a finite number)",
        {".lab/state.json": state().replace('"created": 0.0', '"created": NaN')},
    ),
    Case(
        "state-boot-id-not-a-uuid",
        ("down",),
        2,
        "processes[0].boot_id: '../boot' does not match",
        {".lab/state.json": state_running(boot_id="../boot")},
    ),
    Case(
        "state-boot-id-null",
        ("down",),
        2,
        "processes[0].boot_id: None is not of type 'string'",
        {".lab/state.json": state_running(boot_id=None)},
    ),
    # issue 34: names, folders of runs, output
    Case(
        "ui-state-profile-only-a-name",
        ("ui",),
        2,
        ".lab/state.json: profile: description, platform, model, engine, router, lmcache,",
        {".lab/state.json": state()},
    ),
    Case(
        "ui-state-profile-name-a-path",
        ("ui",),
        2,
        "state.json: profile.name: '../../escaped' does not match",
        {".lab/state.json": state_with_profile(name="../../escaped")},
    ),
    Case(
        "compare-strict-settings-differ",
        ("compare", "runs", str(RR1), "--strict"),
        2,
        f"runs/{RR2.name}: settings router.routing differ, unlike runs/{RR1.name}: --strict",
        prepare=folder_of_runs(lambda m: m["profile"]["router"].update(routing="prefixaware")),
    ),
    Case(
        "compare-strict-profiles-differ",
        ("compare", "runs", str(RR1), "--strict"),
        2,
        f"runs/{RR2.name}: profile cpu-other (not cpu), unlike runs/{RR1.name}",
        prepare=folder_of_runs(lambda m: m.update(profile_name="cpu-other")),
    ),
    Case(
        "compare-strict-lab-version-differs",
        ("compare", "runs", str(RR1), "--strict"),
        2,
        "lab version 0.0.9 (not 0.1.0)",
        prepare=folder_of_runs(lambda m: m.update(lab_version="0.0.9")),
    ),
    Case(
        "compare-strict-side-b-differs",
        ("compare", str(RR1), "runs", "--strict"),
        2,
        "settings engine.replicas differ",
        prepare=folder_of_runs(lambda m: m["profile"]["engine"].update(replicas=3)),
    ),
    Case(
        "compare-strict-name-escaped",
        ("compare", "runs", str(RR1), "--strict"),
        2,
        "profile \\x1b[2J\\x1b]0;x\\x07 (not cpu)",
        prepare=folder_of_runs(lambda m: m.update(profile_name="\x1b[2J\x1b]0;x\x07")),
    ),
    Case(
        "compare-side-by-side-reversed",
        ("compare", "B", "A"),
        2,
        "B holds the B arm and A the A arm of the same side-by-side runs (ab --concurrent): "
        "A comes first, as in: compare A B",
        prepare=side_by_side_arms,
    ),
    Case(
        "compare-side-by-side-reversed-paired",
        ("compare", "B", "A", "--paired", "--out", "o"),
        2,
        "A comes first, as in: compare A B",
        prepare=side_by_side_arms,
    ),
    Case(
        "profile-key-escape",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: \\x1b[31mred\\x1b]0;title\\x07: unknown key",
        {"p.yaml": 'name: p\n"\\e[31mred\\e]0;title\\a": 1\n'},
    ),
    Case(
        "profile-key-newline",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: a\\nerror: forged: unknown key",
        {"p.yaml": 'name: p\n"a\\nerror: forged": 1\n'},
        lines=1,
    ),
    Case(
        "profile-key-bidi",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: \\u202eevil: unknown key",
        {"p.yaml": 'name: p\n"\\u202eevil": 1\n'},
    ),
    Case(
        "set-path-escape",
        ("values", "--set", "\x1b]0;pwned\x07=1"),
        2,
        "'\\x1b]0;pwned\\x07' is not a key",
    ),
    Case(
        "profile-name-escape", ("values", "--profile", "\x1b[2J.yaml"), 2, "\\x1b[2J.yaml: no such"
    ),
    Case(
        "platform-choice-escape",
        ("up", "--platform", "\x1b[31mx"),
        2,
        "invalid choice: '\\x1b[31mx'",
    ),
    Case(
        "state-platform-escape",
        ("status",),
        2,
        "platform: '\\x1b[2Jkind' is not one of",
        {".lab/state.json": state("\x1b[2Jkind")},
    ),
    Case(
        "columns-zero",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: second: unknown key",
        {"p.yaml": "name: p\nfirst: 1\nsecond: 2\n"},
        env={"COLUMNS": "0"},
    ),
    Case(
        "columns-one",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: second: unknown key",
        {"p.yaml": "name: p\nfirst: 1\nsecond: 2\n"},
        env={"COLUMNS": "1"},
    ),
    Case(
        "columns-negative",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: second: unknown key",
        {"p.yaml": "name: p\nfirst: 1\nsecond: 2\n"},
        env={"COLUMNS": "-20"},
    ),
    Case(
        "columns-junk",
        ("values", "--profile", "p.yaml"),
        2,
        "p.yaml: second: unknown key",
        {"p.yaml": "name: p\nfirst: 1\nsecond: 2\n"},
        env={"COLUMNS": "²"},
    ),
    Case(
        "values-kube-policy",
        ("values", "--set", "router.policy.cache_threshold=0.5"),
        2,
        "router.policy.cache_threshold: production-stack's router, which the kind platform runs, "
        "has no such setting",
    ),
    Case(
        "values-kube-test-delay",
        ("values", "--platform", "minikube", "--set", "engine.test_delay={ttft_share: 0.2}"),
        2,
        "engine.test_delay: the delay lives in the lab's engine middleware, which engines on "
        "minikube do not run",
    ),
    Case(
        "values-kube-simulated",
        ("values", "--set", "engine.simulated={ttft_ms: 5}"),
        2,
        "engine.simulated: simulated engines run on the local platform only",
    ),
    Case(
        "values-kube-vllm-router",
        ("values", "--profile", "compose-local"),
        2,
        "router.implementation: vllm-router runs on the local and compose platforms; on kind",
    ),
    Case(
        "values-kube-every-refusal",
        (
            "values",
            "--platform",
            "existing",
            "--set",
            "router.routing=prefixaware",
            "--set",
            "router.policy.max_tree_size=9",
            "--set",
            "engine.test_delay={ttft_share: 1}",
        ),
        2,
        "model.source: lab:tiny-llama lives in this machine's cache",
    ),
    Case(
        "engines-nan",
        ("compare", "run", str(RUN)),
        2,
        "engines.csv: line 2: requests: 'nan' is not a finite number",
        prepare=results_copy(edit_row("routing/engines.csv", "requests", "nan")),
    ),
    Case(
        "series-infinity",
        ("report", "run"),
        2,
        "engine_series.csv: line 2: value: 'inf' is not a finite number",
        prepare=in_run("routing/engine_series.csv", put(series("inf"))),
    ),
    # issue 40: timeouts
    Case(
        "timeouts-first-byte-zero",
        ("values", "--profile", "cpu", "--set", "load.timeouts.first_byte_s=0"),
        2,
        "load.timeouts.first_byte_s: 0 is less than or equal to the minimum of 0",
    ),
    Case(
        "timeouts-stall-negative",
        ("values", "--profile", "cpu", "--set", "load.timeouts.stall_s=-1"),
        2,
        "load.timeouts.stall_s: -1 is less than or equal to the minimum of 0",
    ),
    Case(
        "timeouts-total-infinity",
        ("values", "--profile", "cpu", "--set", "load.timeouts.total_s=.inf"),
        2,
        "load.timeouts.total_s=.inf: the value: inf is not a finite number",
    ),
    Case(
        "timeouts-first-byte-nan",
        ("values", "--profile", "cpu", "--set", "load.timeouts.first_byte_s=.nan"),
        2,
        "load.timeouts.first_byte_s=.nan: the value: nan is not a finite number",
    ),
    Case(
        "timeouts-stall-not-a-number",
        ("values", "--profile", "cpu", "--set", "load.timeouts.stall_s=soon"),
        2,
        "load.timeouts.stall_s: 'soon' is not of type 'number'",
    ),
    Case(
        "timeouts-unknown-limit",
        ("values", "--profile", "cpu", "--set", "load.timeouts.connect_s=5"),
        2,
        "load.timeouts.connect_s: unknown key; expected one of: first_byte_s, stall_s, total_s",
    ),
    Case(
        "timeouts-total-above-a-day",
        ("values", "--profile", "cpu", "--set", "load.timeouts.total_s=100000"),
        2,
        "load.timeouts.total_s: 100000 is greater than the maximum of 86400",
    ),
    Case(
        "simulated-fault-share-above-one",
        ("values", "--profile", "cpu", "--set", "engine.simulated={cut_share: 2}"),
        2,
        "engine.simulated.cut_share: 2 is greater than the maximum of 1",
    ),
    # issue 38: attach
    Case(
        "attach-url-malformed",
        ("up", "--target", "router:8000"),
        2,
        "target.router: not an http(s) URL; expected http(s)://host[:port]",
    ),
    Case(
        "attach-url-path",
        ("up", "--target", "http://h:8000/v1"),
        2,
        "a path, query or fragment where none belongs",
    ),
    Case(
        "attach-url-query",
        ("up", "--target", "http://h:8000?model=x"),
        2,
        "a path, query or fragment where none belongs",
    ),
    Case(
        "attach-url-password",
        ("up", "--target", f"http://me:{SECRET}@h:8000"),
        2,
        "target.router: a user or password in the URL is refused",
    ),
    Case(
        "attach-engine-url-bad",
        ("up", "--target", "http://h:8000", "--set", "target.engines=[ftp://e:1]"),
        2,
        "target.engines[0]: not an http(s) URL",
    ),
    Case(
        "attach-engines-twice",
        ("up", "--target", "http://h:8000", "--set", "target.engines=[http://e:1,http://e:1]"),
        2,
        "target.engines: http://e:1 is named twice",
    ),
    Case(
        "attach-token-in-set",
        ("up", "--target", "http://h:8000", "--set", f"target.api_key_env={SECRET}"),
        2,
        "target.api_key_env: not an environment variable's name (not shown)",
    ),
    Case(
        "attach-token-in-profile",
        ("up", "--profile", "p.yaml"),
        2,
        "target.token: unknown key",
        files={
            "p.yaml": f"name: p\nplatform: attach\ntarget:\n  router: http://h:1\n"
            f"  token: {SECRET}\n"
        },
    ),
    Case(
        "attach-token-variable-unset",
        ("up", "--target", "http://h:8000", "--set", "target.api_key_env=LAB_NO_SUCH_TOKEN"),
        2,
        "target.api_key_env: $LAB_NO_SUCH_TOKEN is not set",
    ),
    Case(
        "attach-failover",
        ("cycle", "--profile", "cpu-resilience", "--target", "http://127.0.0.1:1"),
        2,
        "the attach platform cannot kill engines: the lab did not start this stack",
        lines=3,
    ),
    Case(
        "attach-router-refused",
        ("up", "--target", "http://127.0.0.1:1"),
        1,
        "router http://127.0.0.1:1/v1/models cannot be reached: connection refused",
    ),
    Case(
        "attach-name-unresolved",
        ("up", "--target", "http://no-such-host.invalid:8000"),
        1,
        "cannot be reached: the name does not resolve",
    ),
    Case(
        "attach-tls",
        ("up", "--target", HTML.replace("http:", "https:")),
        1,
        "TLS verification failed",
    ),
    Case(
        "attach-html",
        ("up", "--target", HTML),
        1,
        "answered text/html, not the OpenAI API's model list",
    ),
    Case(
        "attach-models-404",
        ("up", "--target", NO_API),
        1,
        "/v1/models answered 404: no OpenAI-compatible API at this URL",
    ),
    Case(
        "attach-401",
        ("up", "--target", NEEDS_TOKEN),
        1,
        "answered 401: it wants a token: name the variable holding it in target.api_key_env",
    ),
    Case(
        "attach-403",
        ("up", "--target", FORBIDS, "--set", "target.api_key_env=LAB_TOKEN"),
        1,
        "answered 403: the token in $LAB_TOKEN was refused",
        env={"LAB_TOKEN": SECRET},
    ),
    Case(
        "attach-model-not-served",
        ("up", "--target", ONE_MODEL, "--set", "model.name=m9"),
        1,
        f"model.name m9 is not served at {ONE_MODEL} (it serves m1)",
    ),
    Case(
        "attach-several-models",
        ("up", "--target", TWO_MODELS),
        1,
        "serves several models (a, b): choose one with model.name",
    ),
    Case(
        "attach-engine-other-model",
        ("up", "--target", ONE_MODEL, "--set", f"target.engines=[{OTHER_ENGINE}]"),
        1,
        f"target.engines[0] {OTHER_ENGINE} serves m2, not m1",
    ),
    Case(
        "attach-prometheus-no-vllm",
        ("up", "--target", ONE_MODEL, "--set", f"target.prometheus={EMPTY_PROMETHEUS}"),
        1,
        f"target.prometheus {EMPTY_PROMETHEUS} holds no vllm: series",
    ),
    Case(
        "soak-without-rate",
        ("run", "--set", "scenarios=[{name: s, kind: soak, duration: 900}]"),
        2,
        "scenarios[0]: 'rate' is a required property",
    ),
    Case(
        "soak-shorter-than-warmup",
        ("run", "--set", "scenarios=[{name: s, kind: soak, rate: 2, duration: 300}]"),
        2,
        "scenarios[0].duration: 300 s is not longer than the warm-up (600 s)",
    ),
    Case(
        "soak-growth-limit-zero",
        ("run", "--set", "scenarios=[{name: s, kind: soak, rate: 2, max_growth_mb_per_h: 0}]"),
        2,
        "scenarios[0].max_growth_mb_per_h: 0 is less than or equal to the minimum of 0",
    ),
    Case(
        "soak-growth-limit-negative",
        ("run", "--set", "scenarios=[{name: s, kind: soak, rate: 2, max_growth_mb_per_h: -5}]"),
        2,
        "scenarios[0].max_growth_mb_per_h: -5 is less than or equal to the minimum of 0",
    ),
    # issue 40: faults scenarios
    Case(
        "faults-unknown-fault",
        ("values", "--profile", "faults", "--set", "scenarios[0].faults[0].fault=explode"),
        2,
        "scenarios[0].faults[0].fault: 'explode' is not one of ['kill', 'hang'",
    ),
    Case(
        "faults-engine-missing",
        ("values", "--profile", "faults", "--set", "scenarios[0].faults[1].engine=5"),
        2,
        "scenarios[0].faults[1].engine: 5 is not an engine (expected 0..1)",
    ),
    Case(
        "faults-overlap-one-engine",
        ("values", "--profile", "faults", "--set", "scenarios[0].faults[1].at=30"),
        2,
        "scenarios[0].faults[1]: overlaps faults[0] on the same engine (20-40 s and 30-50 s)",
    ),
    Case(
        "faults-ends-after-level",
        ("values", "--profile", "faults", "--set", "scenarios[0].faults[6].for=100"),
        2,
        "faults[6].for: the fault ends at 330 s, after the load (260 s)",
    ),
    Case(
        "faults-timeouts-zero",
        ("values", "--profile", "faults", "--set", "load.timeouts.first_byte_s=0"),
        2,
        "load.timeouts.first_byte_s: 0 is less than or equal to the minimum of 0",
    ),
    Case(
        "faults-option-of-another-fault",
        ("values", "--profile", "faults", "--set", "scenarios[0].faults[0].mode=cut"),
        2,
        "scenarios[0].faults[0].mode: not an option of a kill fault (its options: none)",
    ),
    Case(
        "faults-router-given-an-engine",
        ("values", "--profile", "faults", "--set", "scenarios[0].faults[5].engine=0"),
        2,
        "scenarios[0].faults[5].engine: a router_restart fault acts on no engine",
    ),
    Case(
        "faults-attach-refuses-all",
        ("cycle", "--profile", "faults", "--target", "http://127.0.0.1:1"),
        2,
        "faults[0]: the attach platform cannot inject the kill fault: the lab did not start",
        lines=7,
    ),
    Case(
        "faults-kind-cannot-hang",
        ("up", "--dry-run", "--profile", "faults", "--platform", "kind"),
        2,
        "faults[1]: the kind platform cannot inject the hang fault; local or compose can",
        lines=6,
    ),
    Case(
        "faults-prometheus-down-without-prometheus",
        (
            "up",
            "--dry-run",
            "--profile",
            "faults",
            "--platform",
            "local",
            "--set",
            "observability.prometheus=false",
        ),
        2,
        "faults[6]: a prometheus_down fault needs the lab's Prometheus",
    ),
    Case(
        "attach-engine-not-in-prometheus",
        (
            "up",
            "--target",
            ONE_MODEL,
            "--set",
            "target.engines=[http://engine-0.invalid:8000]",
            "--set",
            f"target.prometheus={EMPTY_PROMETHEUS}",
        ),
        1,
        "target.engines[0] http://engine-0.invalid:8000 cannot be reached from here, and "
        f"target.prometheus {EMPTY_PROMETHEUS} holds no vllm:request_success_total",
    ),
    Case(
        "attach-release-not-found",
        ("up", "--profile", "attach", "--set", "target.kubernetes=true"),
        1,
        "release vllm not found in namespace vllm-lab of kube context prod: no Service labelled",
        files={"kubeconfig": kubeconfig_text(NO_RELEASE, ["prod"])},
        env={"KUBECONFIG": "{work}/kubeconfig", "LAB_KUBE_CONTEXT": "prod"},
    ),
    # lab import and export: another tool's result (docs/bad-input.md, last block).
    Case("import-unknown-format", ("import", "csv", "r.json"), 2, "invalid choice: 'csv'"),
    Case(
        "import-vllm-missing-key",
        ("import", "vllm-bench", "r.json"),
        2,
        "r.json: no 'completed' key, which vllm bench serve --save-result writes",
        files={"r.json": vllm_file(lambda data: data.pop("completed"))},
    ),
    Case(
        "import-vllm-per-request-without-detailed",
        ("import", "vllm-bench", "r.json", "--per-request"),
        2,
        "r.json: no per-request arrays (start_times, ttfts, itls, latencies, input_lens, "
        "output_lens, errors): saved without --save-detailed",
        files={"r.json": tool_file("vllm-bench-summary.json")},
    ),
    Case(
        "import-vllm-unequal-arrays",
        ("import", "vllm-bench", "r.json"),
        2,
        "r.json: per-request arrays of unequal lengths (start_times 12, ttfts 11,",
        files={"r.json": vllm_file(lambda data: data["ttfts"].pop())},
    ),
    Case(
        "import-vllm-array-missing",
        ("import", "vllm-bench", "r.json"),
        2,
        "r.json: per-request arrays without itls",
        files={"r.json": vllm_file(lambda data: data.pop("itls"))},
    ),
    Case(
        "import-vllm-ttft-nan",
        ("import", "vllm-bench", "r.json"),
        2,
        "r.json: ttfts[0]: nan is not a finite number",
        files={"r.json": vllm_file(lambda data: data["ttfts"].__setitem__(0, float("nan")))},
    ),
    Case(
        "import-vllm-duration-infinity",
        ("import", "vllm-bench", "r.json"),
        2,
        "r.json: duration: inf is not a finite number",
        files={"r.json": vllm_file(lambda data: data.update(duration=float("inf")))},
    ),
    Case(
        "import-vllm-ttft-negative",
        ("import", "vllm-bench", "r.json"),
        2,
        "r.json: ttfts[3]: expected a number of at least 0, not -0.5",
        files={"r.json": vllm_file(lambda data: data["ttfts"].__setitem__(3, -0.5))},
    ),
    Case(
        "import-guidellm-missing-key",
        ("import", "guidellm", "b.json"),
        2,
        "b.json: no benchmarks key, which GuideLLM's benchmarks.json has",
        files={"b.json": guidellm_file(lambda data: data.pop("benchmarks"))},
    ),
    Case(
        "import-guidellm-two-benchmarks",
        ("import", "guidellm", "b.json"),
        2,
        "b.json: benchmarks: 2 benchmarks; lab import takes a file of one",
        files={"b.json": guidellm_file(two_benchmarks)},
    ),
    Case(
        "import-guidellm-ttft-infinity",
        ("import", "guidellm", "b.json"),
        2,
        "time_to_first_token_ms: inf is not a finite number",
        files={"b.json": guidellm_file(first_request("time_to_first_token_ms", float("inf")))},
    ),
    Case(
        "import-as-a-path",
        ("import", "vllm-bench", "r.json", "--as", "../up/level"),
        2,
        "--as '../up/level': expected SCENARIO/LEVEL",
        files={"r.json": tool_file("vllm-bench-detailed.json")},
    ),
    Case(
        "export-vllm-bench-not-a-run",
        ("export", "vllm-bench", "nowhere"),
        2,
        "nowhere: not a folder",
    ),
    Case(
        "export-vllm-bench-unknown-level",
        ("export", "vllm-bench", "run", "--level", "x/y"),
        2,
        "--level x/y: not a level of run; its levels: routing/routing, throughput/c1",
        prepare=results_copy(lambda run: None),
    ),
    # Traces (lab.traces): each refusal names file:line and the field.
    Case(
        "trace-malformed-json",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:1: not valid JSON",
        files={"t.jsonl": '{"timestamp": 0, "input_length": 5,\n'},
    ),
    Case(
        "trace-missing-field",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:2: output_length: expected this field (it is missing)",
        files={"t.jsonl": MOONCAKE + '{"timestamp": 9, "input_length": 5, "hash_ids": [1]}\n'},
    ),
    Case(
        "trace-wrong-type",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:1: input_length: expected a whole number of at least 1, got 'ten'",
        files={"t.jsonl": MOONCAKE.replace('"input_length": 5', '"input_length": "ten"')},
    ),
    Case(
        "trace-negative-timestamp",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:1: timestamp: expected a timestamp of 0 or more, got -5",
        files={"t.jsonl": MOONCAKE.replace('"timestamp": 0', '"timestamp": -5')},
    ),
    Case(
        "trace-out-of-order",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:2: timestamp: expected timestamps in order (the line before is at 10)",
        files={"t.jsonl": MOONCAKE.replace('"timestamp": 0', '"timestamp": 10') + MOONCAKE},
    ),
    Case(
        "trace-zero-output",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:1: output_length: expected a whole number of at least 1, got 0",
        files={"t.jsonl": MOONCAKE.replace('"output_length": 3', '"output_length": 0')},
    ),
    Case(
        "trace-not-finite",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:1: not valid JSON",
        files={"t.jsonl": MOONCAKE.replace('"timestamp": 0', '"timestamp": NaN')},
    ),
    Case(
        "trace-prompt-too-long",
        ("run", "--dry-run", "--set", REPLAY),
        2,
        "prompt: expected at most max_model_len (2048) tokens with its output; 1 prompt(s) are "
        "longer",
        files={
            "t.jsonl": MOONCAKE.replace('"input_length": 5', '"input_length": 4000').replace(
                "[1]", "[1, 2, 3, 4, 5, 6, 7, 8]"
            )
        },
    ),
    Case(
        "trace-malformed-before-cycle-starts-a-stack",
        ("cycle", "--platform", "local", "--set", REPLAY),
        2,
        "t.jsonl:1: not valid JSON",
        files={"t.jsonl": '{"timestamp": 0, "input_length": 5,\n'},
    ),
    Case(
        "trace-sample-larger",
        ("run", "--dry-run", "--set", REPLAY.replace("}]", ", sample: {sessions: 5}}]")),
        2,
        "t.jsonl: sample: expected at most the trace's 1 sessions, got 5",
        files={"t.jsonl": MOONCAKE},
    ),
    Case(
        "trace-empty",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl: an empty trace",
        files={"t.jsonl": "\n\n"},
    ),
    Case(
        "trace-binary",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:1: not a text trace (a NUL byte: binary data)",
        files={"t.jsonl": b"\x1f\x8b\x08\x00\x00\x00\x00"},
    ),
    Case(
        "trace-folder",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl: cannot read trace: a folder, not a regular file",
        prepare=lambda work: (work / "t.jsonl").mkdir(),
    ),
    Case(
        "trace-format-undecided",
        ("trace", "stats", "t.txt"),
        2,
        "t.txt:1: format: cannot be decided from the first line",
        files={"t.txt": "hello world\n"},
    ),
    Case(
        "trace-line-over-10mb",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:2: line: expected at most 10 MB, got a longer line",
        files={"t.jsonl": MOONCAKE + '{"prompt": "' + "x" * (10 * 2**20) + '"}\n'},
    ),
    Case(
        "trace-sharegpt-role",
        ("trace", "stats", "t.jsonl"),
        2,
        "t.jsonl:1: conversations[0].from: expected one of human",
        files={"t.jsonl": '{"conversations": [{"from": "robot", "value": "hi"}]}\n'},
    ),
    Case(
        "trace-csv-header",
        ("trace", "stats", "t.csv", "--format", "csv"),
        2,
        "t.csv:1: header: expected the columns of one of: Timestamp, Request tokens",
        files={"t.csv": "time,in,out\n1,2,3\n"},
    ),
    Case(
        "export-run-without-prompts",
        ("export", "trace", str(RUN), "--level", "throughput/c1"),
        2,
        "no prompt column: the run is from before the lab recorded its prompts",
    ),
]


# One of each kind of refusal, from `python -m lab` itself: argparse's, a profile's, the state
# folder's, a tool's odd answer (fake helm on PATH), and a COLUMNS rich would print nothing at.
FROM_THE_ENTRY_POINT = (
    "up-unknown-platform",
    "duplicate-key",
    "state-dir-a-file",
    "helm-not-json",
    "columns-zero",  # COLUMNS as the interpreter starts with it
)


# A FIFO, a device and a sparse gigabyte, as each file the lab reads whole.
UNENDING = [
    c
    for c in CASES
    if re.fullmatch(r"(profile|state|manifest|noise)-(fifo|dev-zero|sparse-gigabyte)", c.id)
]


@dataclass(frozen=True)
class Outcome:
    done: subprocess.CompletedProcess[str]
    before: dict[str, str]
    after: dict[str, str]


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root`: 'folder', its content's hash, or (never opened: a FIFO would
    block, a device never end, a sparse gigabyte take its time) what else it is."""
    found = {}
    for path in sorted(root.rglob("*")):
        name, info = str(path.relative_to(root)), path.lstat()
        if path.is_symlink():
            found[name] = f"link to {os.readlink(path)}"
        elif stat.S_ISDIR(info.st_mode):
            found[name] = "folder"
        elif not stat.S_ISREG(info.st_mode) or info.st_size > 2**20:
            found[name] = f"mode {info.st_mode:o}, {info.st_size} bytes, at {info.st_mtime_ns}"
        else:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def play(case: Case, base: Path, run: Callable[..., subprocess.CompletedProcess[str]]) -> Outcome:
    """The case run by `run` (lab_main or lab_cli) in its working folder, made as it says."""
    work = base / case.id
    work.mkdir(parents=True)
    for name, content in case.files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.prepare:
        case.prepare(work)
    env = {key: value.replace("{work}", str(work)) for key, value in case.env.items()}
    if case.tools:
        fakes = Fakes(base / f"{case.id}-fakes", api_port=0)
        for tool, args, stdout, rc, stderr in case.tools:
            fakes.answer(tool, list(args), stdout, rc, stderr)
        env |= fakes.environment()
    before = snapshot(work)
    done = run(*case.args, state_dir=work / ".lab", cwd=work, env=env)
    return Outcome(done, before, snapshot(work))


def refused_clearly(case: Case, outcome: Outcome) -> None:
    done = outcome.done
    said = done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in said, said
    assert done.returncode == case.status, said
    assert 1 <= len(lines) <= case.lines, done.stderr
    assert all(len(line) < 1200 for line in lines), done.stderr
    assert case.says in done.stderr, done.stderr
    assert SECRET not in said
    assert outcome.after == outcome.before


def test_the_corpus_is_large_and_every_case_named_once() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    assert set(FROM_THE_ENTRY_POINT) <= {case.id for case in CASES}


def test_the_outcome_table_names_every_case() -> None:
    table = (Path(__file__).parent.parent / "docs" / "bad-input.md").read_text()
    named = set(re.findall(r"`([a-z0-9-]+)`", table))
    assert {case.id for case in CASES} - named == set()


@pytest.mark.parametrize(
    "case", [c for c in CASES if c not in UNENDING], ids=lambda case: case.id
)  # UNENDING's are checked as clearly, and timed, below
def test_bad_input_is_refused_clearly_and_changes_nothing(case: Case, tmp_path) -> None:
    refused_clearly(case, play(case, tmp_path, lab_main))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.id in FROM_THE_ENTRY_POINT], ids=lambda case: case.id
)
def test_the_entry_point_refuses_as_main_does(case: Case, tmp_path) -> None:
    refused_clearly(case, play(case, tmp_path, lab_cli))


@pytest.mark.parametrize("case", UNENDING, ids=lambda case: case.id)
def test_what_would_hang_or_never_end_is_refused_within_a_second(case: Case, tmp_path) -> None:
    """An alarm ends a reader that hangs, so that it fails the test rather than the run. Timed
    the second time, the verb's modules imported by the first (imports are not reading)."""
    took: list[float] = []

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"{case.id}: still reading after 30 s")

    former = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        for attempt in ("first", "second"):
            outcome = play(case, tmp_path / attempt, timed_main(took))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, former)
    refused_clearly(case, outcome)
    assert took[1] < 1.0, f"{case.id}: refused after {took[1]:.2f} s"


def timed_main(took: list[float]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """lab_main, its own time (not the case's making or snapshots) appended to `took`."""

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        began = time.perf_counter()
        done = lab_main(*args, **kwargs)
        took.append(time.perf_counter() - began)
        return done

    return run
