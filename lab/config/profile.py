"""The lab profile: one YAML file, checked against schemas/lab-profile.schema.json, then typed.

Flow: read YAML -> apply --set overrides -> validate (every violation at once) -> fill the
schema's defaults -> frozen dataclasses. Nothing downstream reads the YAML again.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.config import kinds
from lab.config.kinds import Scenario
from lab.config.slo import LIMITS, Slo
from lab.config.timeouts import Timeouts
from lab.config.validation import load_yaml, parse_yaml, schema, violations, with_defaults
from lab.errors import ConfigError
from lab.files import shorten
from lab.paths import asset

TINY_MODEL = "lab:tiny-llama"
# A variable's name as messages show it (where a setting names the variable holding a secret:
# tokens are rarely all capitals, as names are); a URL's user part.
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
USERINFO = re.compile(r"//[^/@\s]*@")


@dataclass(frozen=True)
class Model:
    name: str
    source: str
    revision: str
    hf_token_env: str

    @property
    def is_tiny(self) -> bool:
        return self.source == TINY_MODEL


@dataclass(frozen=True)
class Engine:
    replicas: int
    cpu: int
    memory: str
    gpu: int
    image: str
    tag: str
    max_model_len: int
    dtype: str
    prefix_caching: bool
    chunked_prefill: bool
    tensor_parallel_size: int
    gpu_memory_utilization: float
    kv_cache_gb: int
    api_key_env: str
    startup_timeout: int
    extra_args: tuple[str, ...]
    # Tests and benchmarks only (local platform): lab.sim's timing instead of vLLM; None: vLLM.
    simulated: dict[str, Any] | None = None
    # Tests and calibration only: a known slowdown (lab.inproc.engine_tag, docs/compare.md).
    test_delay: dict[str, Any] | None = None


@dataclass(frozen=True)
class Router:
    routing: str
    session_key: str
    image: str
    tag: str
    health_check_interval: int
    implementation: str  # production-stack | vllm-router (which router the Compose platform runs)
    # Tuning of the routing logic (lab.config.commandlines.POLICY_FLAGS); absent keys keep the
    # router's own defaults.
    policy: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class LMCache:
    enabled: bool
    cpu_buffer_gb: float


@dataclass(frozen=True)
class Observability:
    prometheus: bool
    grafana: bool
    prometheus_image: str  # image:tag, Compose platform
    grafana_image: str


@dataclass(frozen=True)
class Kubernetes:
    release: str
    namespace: str
    chart_version: str
    ready_timeout: int


@dataclass(frozen=True)
class Load:
    """The load generator: how many Locust processes (an int, or "auto") and where the workers
    of a distributed run are (local, or cluster: pods beside a Kubernetes stack)."""

    processes: int | str
    workers: str
    image: str
    master_address: str
    timeouts: Timeouts


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    platform: str
    model: Model
    engine: Engine
    router: Router
    lmcache: LMCache
    observability: Observability
    kubernetes: Kubernetes
    load: Load
    slo: Slo | None
    scenarios: tuple[Scenario, ...]
    source: str  # where it came from, for messages and the run manifest
    resolved: dict[str, Any]  # the document after overrides and defaults

    @property
    def gpu(self) -> bool:
        return self.engine.gpu > 0

    def scenario(self, name: str) -> Scenario:
        for scenario in self.scenarios:
            if scenario.name == name:
                return scenario
        known = ", ".join(s.name for s in self.scenarios) or "none"
        raise ConfigError(f"{self.source}: no scenario named '{name}' (it has: {known})")


def find(name_or_path: str | Path) -> Path:
    """A profile by path, or by name from the kit's profiles/ ('cpu' -> profiles/cpu.yaml)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = asset("profiles", f"{name_or_path}.yaml")
    if shipped.exists():
        return shipped
    names = sorted(p.stem for p in asset("profiles").glob("*.yaml"))
    shown = shorten(str(name_or_path))
    raise ConfigError(f"{shown}: no such profile file or shipped profile ({', '.join(names)})")


def load(name_or_path: str | Path, sets: list[str] | tuple[str, ...] = ()) -> Profile:
    """Read, override, validate and type a profile. Raises ConfigError listing every problem,
    each blamed on the file or on the --set that caused it."""
    path = find(name_or_path)
    document = read(path)
    changed = copy.deepcopy(document)
    set_paths = {apply_set(changed, assignment): assignment for assignment in sets}
    found = problems(changed)
    if found:
        own = problems(document) if sets else found
        # A file that breaks the schema by itself never reached the later checks.
        checked = not sets or not violations(document, "lab-profile")
        raise ConfigError([_blame(p, own, checked, path, set_paths) for p in found])
    return build(with_defaults(changed, "lab-profile"), _source(path, sets))


def _source(path: Path, sets: list[str] | tuple[str, ...]) -> str:
    """How later messages name the profile: the file, with the overrides that changed it (a
    problem found later may come from either)."""
    overrides = "".join(f" --set {shown(assignment)}" for assignment in sets)
    return f"{path} with{shorten(overrides)}" if sets else str(path)


def read(path: Path) -> dict[str, Any]:
    """A profile file as a mapping (not yet validated)."""
    document = load_yaml(path, "profile")
    if not isinstance(document, dict):
        kind = type(document).__name__ if document is not None else "an empty file"
        raise ConfigError(f"{path}: a profile must be a mapping of keys to values, not {kind}")
    return document


def problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (json path, message) by which a profile document is unusable: the schema's
    violations, and once it satisfies the schema, what the schema cannot say."""
    found = violations(document, "lab-profile")
    if found:
        return found
    built = build(with_defaults(document, "lab-profile"), "")
    return _repeated_names(document) + _slo_problems(document) + _kind_problems(built)


def _blame(
    problem: tuple[str, str],
    own: list[tuple[str, str]],
    checked: bool,
    path: Path,
    set_paths: dict[str, str],
) -> str:
    """'FILE: path: message' for a problem the file has by itself, '--set X=Y: path: message'
    for one the overrides brought (naming the --set whose path is nearest to it). Where the
    file alone was not checked to the end, only a problem where a --set reached is its."""
    where, message = problem
    near = _nearest(list(set_paths), where)
    if not set_paths or problem in own or (not near and not checked):
        return f"{path}: {where}: {message}"
    named = " ".join(f"--set {shorten(shown(set_paths[s]))}" for s in near or set_paths)
    return f"{named}: {where}: {message}"


def shown(assignment: str) -> str:
    """An override as messages may say it: never the value of a setting that names a secret's
    variable unless it is a name, never a URL's user or password."""
    key, _, value = assignment.partition("=")
    if key.endswith("_env") and not ENV_NAME.fullmatch(value):
        return f"{key}=(not shown: not a variable's name, maybe a secret)"
    return USERINFO.sub("//(user not shown)@", assignment)


def _nearest(set_paths: list[str], where: str) -> list[str]:
    """The --set paths sharing the most leading steps with `where` (none if none shares one)."""

    def steps(path: str) -> list[str]:
        return re.findall(r"[^.\[\]]+", path) if path != "(top level)" else []

    def shared(set_path: str) -> int:
        count = 0
        for mine, theirs in zip(steps(set_path), steps(where), strict=False):
            if mine != theirs:
                break
            count += 1
        return count

    best = max(map(shared, set_paths), default=0)
    return [s for s in set_paths if best and shared(s) == best]


def apply_set(document: dict[str, Any], assignment: str) -> str:
    """Apply one --set PATH=VALUE (VALUE parsed as YAML, plain data, no tags) in place; return
    the path."""
    path, sep, raw = assignment.partition("=")
    shown = shorten(assignment)
    if not sep or not path:
        raise ConfigError(f"--set {shown}: expected PATH=VALUE, e.g. router.routing=session")
    steps = _split_path(path, shown)
    value = _set_value(raw, shown)
    node: Any = document
    for here, step in enumerate(steps[:-1]):
        node = _descend(node, step, steps[here + 1], shown)
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ConfigError(f"--set {shown}: index [{last}] is not in the list")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {shown}: '{last}' is inside a value that is not a mapping")
    return path


def _set_value(raw: str, shown: str) -> Any:
    """The VALUE of a --set, read as YAML; a tag is refused (an override is plain data)."""
    if not raw.strip():
        return ""
    try:
        tagged = any(isinstance(token, yaml.TagToken) for token in yaml.scan(raw))
    except yaml.YAMLError:
        tagged = False  # parse_yaml says what is wrong
    if tagged:
        raise ConfigError(
            f"--set {shown}: YAML tags (!!...) are not allowed in a --set value; "
            "write plain data, quoted if it must stay a string"
        )
    return parse_yaml(raw, f"--set {shown}: the value")


def _split_path(path: str, assignment: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        match = re.fullmatch(r"([A-Za-z_][\w-]*)((?:\[\d+\])*)", part)
        if not match:
            raise ConfigError(
                f"--set {assignment}: '{part}' is not a key (letters, digits, _ and -)"
            )
        steps.append(match[1])
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match[2]))
    return steps


def _descend(node: Any, step: str | int, following: str | int, assignment: str) -> Any:
    if isinstance(step, int):
        if not isinstance(node, list) or step >= len(node):
            raise ConfigError(f"--set {assignment}: index [{step}] is not in the list")
        return node[step]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {assignment}: '{step}' is inside a value that is not a mapping")
    if step not in node:
        if isinstance(following, int):
            raise ConfigError(f"--set {assignment}: '{step}' is not a list in this profile")
        node[step] = {}
    return node[step]


def _repeated_names(document: dict[str, Any]) -> list[tuple[str, str]]:
    names = [s.get("name") for s in document.get("scenarios", [])]
    twice = sorted({n for n in names if names.count(n) > 1})
    return [("scenarios", f"names must be unique, repeated: {', '.join(twice)}")] if twice else []


def _slo_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every SLO sets a limit; every capacity scenario has an SLO to search under."""
    found = []
    places = [("slo", document.get("slo"))]
    scenarios = document.get("scenarios", [])
    places += [(f"scenarios[{i}].slo", s.get("slo")) for i, s in enumerate(scenarios)]
    for where, slo in places:
        if slo is not None and not any(name in slo for name in LIMITS):
            found.append((where, f"no limit: expected one of {', '.join(LIMITS)}"))
    for index, scenario in enumerate(scenarios):
        if scenario["kind"] == "capacity" and not (scenario.get("slo") or document.get("slo")):
            found.append(
                (
                    f"scenarios[{index}]",
                    "a capacity scenario needs an SLO: expected `slo` at the top of the profile "
                    "or in the scenario",
                )
            )
    return found


def _kind_problems(profile: Profile) -> list[tuple[str, str]]:
    """What each scenario's kind finds wrong with it beyond the schema (lab.config.kinds):
    events in order, inside the load, to an engine that exists; conversations that fit the
    engines' context."""
    return [
        (f"scenarios[{index}]{part}", message)
        for index, s in enumerate(profile.scenarios)
        for part, message in kinds.get(s.kind).problems(s, profile.engine)
    ]


def build(document: dict[str, Any], source: str) -> Profile:
    """Typed view of a validated document with defaults filled."""
    slo = _slo(document.get("slo"))
    scenarios = tuple(
        _typed(kinds.get(item["kind"]).options, {**item, "slo": _slo(item.get("slo")) or slo})
        for item in document["scenarios"]
    )
    return Profile(
        name=document["name"],
        description=document["description"],
        platform=document["platform"],
        model=_typed(Model, document["model"]),
        engine=_typed(Engine, document["engine"]),
        router=_typed(Router, document["router"]),
        lmcache=_typed(LMCache, document["lmcache"]),
        observability=_typed(Observability, document["observability"]),
        kubernetes=_typed(Kubernetes, document["kubernetes"]),
        load=_typed(
            Load, {**document["load"], "timeouts": _typed(Timeouts, document["load"]["timeouts"])}
        ),
        slo=slo,
        scenarios=scenarios,
        source=source,
        resolved=document,
    )


def recorded(document: dict[str, Any], source: str, origin: str) -> Profile:
    """A profile a file recorded as resolved (a state file's), checked again, as the file may
    have been edited: a section missing is refused rather than filled with defaults, which
    would describe a stack nobody brought up. ConfigError naming `origin` (file and key)."""
    sections = schema("lab-profile")["properties"]
    missing = [key for key, part in sections.items() if "default" in part and key not in document]
    if missing:
        raise ConfigError(
            f"{origin}: {', '.join(missing)} missing: not the whole profile of a lab that was "
            "brought up; remove the state file if no lab started from here still runs"
        )
    found = problems(document)
    if found:
        raise ConfigError([f"{origin}.{where}: {message}" for where, message in found])
    return build(with_defaults(document, "lab-profile"), source)


def _slo(data: dict[str, Any] | None) -> Slo | None:
    if data is None:
        return None
    limits = {name: data.get(name) for name in LIMITS}
    return Slo(**limits, attainment=data["attainment"], max_error_rate=data["max_error_rate"])


def _typed(cls: type, data: dict[str, Any]) -> Any:
    values = {f.name: data[f.name] for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
