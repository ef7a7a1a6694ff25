"""The lab profile: one YAML file, checked against schemas/lab-profile.schema.json, then typed.

Flow: read YAML -> apply --set overrides -> validate (every violation at once) -> fill the
schema's defaults -> frozen dataclasses. Nothing downstream reads the YAML again.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.config.validation import check, load_yaml, with_defaults
from lab.errors import ConfigError
from lab.paths import asset

TINY_MODEL = "lab:tiny-llama"


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


@dataclass(frozen=True)
class Router:
    routing: str
    session_key: str
    image: str
    tag: str
    health_check_interval: int
    implementation: str  # production-stack | vllm-router (which router the Compose platform runs)


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


@dataclass(frozen=True)
class RoutingScenario:
    name: str
    kind: str
    users: int
    rounds: int
    system_prompt_words: int
    history_words: int
    answer_tokens: int
    user_qps: float
    seed: int | None


@dataclass(frozen=True)
class ThroughputScenario:
    name: str
    kind: str
    concurrency: tuple[int, ...]
    rates: tuple[float, ...]
    duration: int
    prompt_tokens: int
    output_tokens: int
    seed: int | None
    burstiness: float = 1.0  # gamma shape of open-loop gaps (1: Poisson)


@dataclass(frozen=True)
class SteadyLoadScenario:
    """Steady load while events happen to the stack: what failover and scale share."""

    name: str
    kind: str
    users: int
    duration: int
    prompt_tokens: int
    output_tokens: int
    rate: float | None


@dataclass(frozen=True)
class FailoverScenario(SteadyLoadScenario):
    engine: int
    kill_at: int
    restart_at: int


@dataclass(frozen=True)
class ScaleScenario(SteadyLoadScenario):
    up_at: int
    down_at: int


Scenario = RoutingScenario | ThroughputScenario | FailoverScenario | ScaleScenario
SCENARIO_KINDS: dict[str, type[Scenario]] = {
    "routing": RoutingScenario,
    "throughput": ThroughputScenario,
    "failover": FailoverScenario,
    "scale": ScaleScenario,
}


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
    raise ConfigError(
        f"{name_or_path}: no such profile file or shipped profile ({', '.join(names)})"
    )


def load(name_or_path: str | Path, sets: list[str] | tuple[str, ...] = ()) -> Profile:
    """Read, override, validate and type a profile. Raises ConfigError listing every problem."""
    path = find(name_or_path)
    document = load_yaml(path, "profile")
    if not isinstance(document, dict):
        kind = type(document).__name__ if document is not None else "an empty file"
        raise ConfigError(f"{path}: a profile must be a mapping of keys to values, not {kind}")
    set_paths = []
    for assignment in sets:
        set_paths.append(apply_set(document, assignment))
    check(document, "lab-profile", origin=_origin(path, set_paths))
    _check_names_unique(document, path)
    built = build(with_defaults(document, "lab-profile"), str(path))
    _check_event_times(built)
    return built


def apply_set(document: dict[str, Any], assignment: str) -> str:
    """Apply one --set PATH=VALUE (VALUE parsed as YAML) in place; return the path."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path:
        raise ConfigError(f"--set {assignment}: expected PATH=VALUE, e.g. router.routing=session")
    steps = _split_path(path, assignment)
    value = yaml.safe_load(raw) if raw.strip() else ""
    node: Any = document
    for here, step in enumerate(steps[:-1]):
        node = _descend(node, step, steps[here + 1], assignment)
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ConfigError(f"--set {assignment}: index [{last}] is not in the list")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {assignment}: '{last}' is inside a value that is not a mapping")
    return path


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


def _origin(path: Path, set_paths: list[str]):  # type: ignore[no-untyped-def]
    """Blame --set for violations under a path it set, the file for the rest."""

    def origin(json_path: str) -> str:
        for set_path in set_paths:
            if json_path == set_path or json_path.startswith((set_path + ".", set_path + "[")):
                return "--set"
        return str(path)

    return origin


def _check_names_unique(document: dict[str, Any], path: Path) -> None:
    names = [s.get("name") for s in document.get("scenarios", [])]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: scenarios: names must be unique, repeated: {', '.join(twice)}")


# A round adds a question (about 25 tokens with its chat-template markers) and an answer.
QUESTION_TOKENS = 40


def conversation_tokens(s: RoutingScenario) -> int:
    """About how long the last round's prompt is, in tokens (one per word, as with the tiny
    model's words; real tokenizers need somewhat more)."""
    return s.system_prompt_words + s.history_words + s.rounds * (QUESTION_TOKENS + s.answer_tokens)


def _check_event_times(profile: Profile) -> None:
    """Events happen in order, inside the load, to an engine that exists; conversations fit
    the engines' context."""
    problems = []
    for index, s in enumerate(profile.scenarios):
        where = f"{profile.source}: scenarios[{index}]"
        if isinstance(s, FailoverScenario):
            if not s.kill_at < s.restart_at < s.duration:
                problems.append(f"{where}: expected kill_at < restart_at < duration")
            if s.engine >= profile.engine.replicas:
                last = profile.engine.replicas - 1
                problems.append(f"{where}.engine: {s.engine} is not an engine (expected 0..{last})")
            if profile.engine.replicas < 2:
                problems.append(f"{where}: failover needs engine.replicas >= 2")
        if isinstance(s, ScaleScenario) and not s.up_at < s.down_at < s.duration:
            problems.append(f"{where}: expected up_at < down_at < duration")
        if isinstance(s, RoutingScenario) and conversation_tokens(s) > profile.engine.max_model_len:
            problems.append(
                f"{where}: its conversations grow to about {conversation_tokens(s)} tokens, "
                f"beyond engine.max_model_len ({profile.engine.max_model_len}): expected fewer "
                "rounds, shorter prompts or answers, or a longer max_model_len"
            )
    if problems:
        raise ConfigError(problems)


def build(document: dict[str, Any], source: str) -> Profile:
    """Typed view of a validated document with defaults filled."""
    scenarios = tuple(_typed(SCENARIO_KINDS[item["kind"]], item) for item in document["scenarios"])
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
        load=_typed(Load, document["load"]),
        scenarios=scenarios,
        source=source,
        resolved=document,
    )


def _typed(cls: type, data: dict[str, Any]) -> Any:
    values = {f.name: data[f.name] for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
