from __future__ import annotations

import pytest

from lab.config import kinds, profile, values
from lab.config.validation import schema
from lab.errors import ConfigError
from lab.paths import asset

SHIPPED = sorted(p.stem for p in asset("profiles").glob("*.yaml"))


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    return "\n".join(exc.value.problems)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads(name: str) -> None:
    loaded = profile.load(name)
    assert loaded.name == name
    assert loaded.scenarios, "every shipped profile runs at least one scenario"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_judges_its_levels_by_an_slo(name: str) -> None:
    loaded = profile.load(name)
    assert loaded.slo is not None and loaded.slo.limits()
    assert all(s.slo == loaded.slo for s in loaded.scenarios)


def test_the_promised_profiles_are_shipped() -> None:
    assert {"cpu", "cpu-quick", "cpu-resilience", "gpu", "gpu-lmcache"} <= set(SHIPPED)


def test_default_profile_is_two_tiny_cpu_engines_round_robin() -> None:
    cpu = profile.load("cpu")
    assert (cpu.engine.replicas, cpu.engine.gpu, cpu.model.source) == (2, 0, "lab:tiny-llama")
    assert cpu.router.routing == "roundrobin"


def test_defaults_come_from_the_schema(write) -> None:
    loaded = profile.load(write("p.yaml", "name: minimal\n"))
    engine_schema = schema("lab-profile")["properties"]["engine"]["properties"]
    assert loaded.engine.replicas == engine_schema["replicas"]["default"]
    assert loaded.router.session_key == "x-user-id"
    assert loaded.platform == "auto"
    assert loaded.scenarios == ()


def test_scenario_defaults_fill_per_kind(write) -> None:
    path = write("p.yaml", "name: s\nscenarios:\n  - {name: r, kind: routing}\n")
    (routing,) = profile.load(path).scenarios
    assert isinstance(routing, kinds.RoutingScenario)
    assert routing.users == 8 and routing.rounds == 5


def test_dataclasses_mirror_the_schema() -> None:
    """A key added to the schema but not to the typed model (or the reverse) fails here."""
    props = schema("lab-profile")["properties"]
    sections = {
        "model": profile.Model,
        "engine": profile.Engine,
        "router": profile.Router,
        "lmcache": profile.LMCache,
        "observability": profile.Observability,
        "kubernetes": profile.Kubernetes,
    }
    for key, cls in sections.items():
        assert set(props[key]["properties"]) == set(cls.__dataclass_fields__), key
    defs = schema("lab-profile")["$defs"]
    assert set(defs["slo"]["properties"]) == set(profile.Slo.__dataclass_fields__)


@pytest.mark.parametrize(
    ("assignment", "attribute", "expected"),
    [
        ("router.routing=prefixaware", ("router", "routing"), "prefixaware"),
        ("router.session_key=x-session-id", ("router", "session_key"), "x-session-id"),
        ("engine.replicas=3", ("engine", "replicas"), 3),
        ("engine.prefix_caching=false", ("engine", "prefix_caching"), False),
        ("engine.extra_args=[--enforce-eager]", ("engine", "extra_args"), ("--enforce-eager",)),
        ("lmcache.enabled=true", ("lmcache", "enabled"), True),
    ],
)
def test_set_overrides_typed_values(assignment: str, attribute: tuple[str, str], expected) -> None:
    loaded = profile.load("cpu", [assignment])
    assert getattr(getattr(loaded, attribute[0]), attribute[1]) == expected


def test_set_reaches_into_scenario_lists() -> None:
    loaded = profile.load("cpu", ["scenarios[0].users=3"])
    assert loaded.scenarios[0].users == 3


def test_routing_variant_needs_no_copy_of_the_profile() -> None:
    for routing in ("roundrobin", "session", "prefixaware"):
        assert profile.load("cpu", [f"router.routing={routing}"]).router.routing == routing


@pytest.mark.parametrize(
    ("text", "sets", "expected"),
    [
        ("name: p\nengine: {replicas: 0}\n", [], "engine.replicas: 0 is less than the minimum"),
        ("name: p\nengine: {replicas: -2}\n", [], "engine.replicas: -2 is less than the minimum"),
        ("name: p\nengine: {cpu: 1.5}\n", [], "engine.cpu: 1.5 is not of type 'integer'"),
        ("name: p\nrouter: {routing: prefix}\n", [], "router.routing: 'prefix' is not one of"),
        ("name: p\nrouter: {routinglogic: session}\n", [], "router.routinglogic: unknown key"),
        ("name: p\nengine: {replica: 2}\n", [], "did you mean 'replicas'?"),
        ("name: p\ncolour: blue\n", [], "colour: unknown key"),
        ("name: p\nrouter: {session_key: ''}\n", [], "router.session_key: '' does not match"),
        ("name: p\nengine: {gpu_memory_utilization: 1.5}\n", [], "gpu_memory_utilization"),
        ("name: p\nengine: {max_model_len: '2048'}\n", [], "'2048' is not of type 'integer'"),
        ("engine: {replicas: 1}\n", [], "'name' is a required property"),
        ("name: p\nscenarios: [{name: a, kind: nope}]\n", [], "scenarios[0].kind: 'nope'"),
        ("name: p\nscenarios: [{name: a, kind: routing, rate: 2}]\n", [], "scenarios[0].rate"),
        ("name: p\n", ["router.routing=prefix"], "--set router.routing=prefix: router.routing: "),
        ("name: p\n", ["engine.replicas=0"], "--set engine.replicas=0: engine.replicas: 0"),
    ],
)
def test_bad_profiles_are_refused_with_file_and_path(write, text, sets, expected) -> None:
    path = write("bad.yaml", text)
    with pytest.raises(ConfigError) as exc:
        profile.load(path, sets)
    assert expected in problems(exc)
    if not sets:
        assert str(path) in problems(exc)


def test_every_violation_is_listed_at_once(write) -> None:
    path = write("bad.yaml", "name: p\nengine: {replicas: 0, cpu: 1.5}\nrouter: {routing: x}\n")
    with pytest.raises(ConfigError) as exc:
        profile.load(path)
    assert len(exc.value.problems) == 3


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("{name: f, kind: failover, kill_at: 40, restart_at: 30}", "kill_at < restart_at"),
        ("{name: f, kind: failover, restart_at: 200, duration: 100}", "restart_at < duration"),
        ("{name: f, kind: failover, engine: 2}", "scenarios[0].engine: 2 is not an engine"),
        ("{name: s, kind: scale, up_at: 50, down_at: 20}", "up_at < down_at < duration"),
        ("{name: r, kind: routing, rounds: 40}", "beyond engine.max_model_len (2048)"),
    ],
)
def test_events_out_of_order_are_refused(write, scenario: str, expected: str) -> None:
    path = write("p.yaml", f"name: p\nengine: {{replicas: 2}}\nscenarios: [{scenario}]\n")
    with pytest.raises(ConfigError) as exc:
        profile.load(path)
    assert expected in problems(exc)


def test_duplicate_scenario_names_are_refused(write) -> None:
    text = "name: p\nscenarios:\n  - {name: a, kind: routing}\n  - {name: a, kind: throughput}\n"
    with pytest.raises(ConfigError, match="repeated: a"):
        profile.load(write("p.yaml", text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "must be a mapping of keys to values, not list"),
        ("", "not an empty file"),
        ("just words\n", "not str"),
        ("name: [unclosed\n", "line 2, column 1: not valid YAML"),
        ("name: a\n\tbad: tab\n", "not valid YAML"),
    ],
)
def test_unreadable_profiles_are_refused(write, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"p\.yaml: ") as exc:
        profile.load(write("p.yaml", text))
    assert expected in problems(exc)


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"nothere\.yaml: no such profile"):
        profile.load(tmp_path / "nothere.yaml")


def test_unknown_shipped_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match=r"no such profile file or shipped profile") as exc:
        profile.load("cpuu")
    assert all(name in problems(exc) for name in SHIPPED)


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("router.routing", "expected PATH=VALUE"),
        ("=3", "expected PATH=VALUE"),
        ("name.first=x", "not a mapping"),
        ("scenarios[7].users=1", "index [7] is not in the list"),
        ("a..b=1", "is not a key"),
    ],
)
def test_bad_set_is_refused(assignment: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        profile.load("cpu", [assignment])
    assert expected in problems(exc)
    assert f"--set {assignment}" in problems(exc)


def test_loading_never_writes_to_the_profile(write) -> None:
    path = write("p.yaml", "name: p\nrouter: {routing: session}\n")
    before = path.read_text()
    profile.load(path, ["router.routing=roundrobin", "engine.replicas=4"])
    assert path.read_text() == before


def test_yaml_merge_keys_may_be_overridden_and_dates_stay_strings(write) -> None:
    text = "name: p\ndescription: 2026-11-28\n"
    text += "router:\n  <<: {routing: session}\n  routing: prefixaware\n"
    lab = profile.load(write("p.yaml", text))
    assert lab.router.routing == "prefixaware" and lab.description == "2026-11-28"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: a\nname: b\n", "line 2, column 1: key 'name' appears twice in one mapping"),
        ("name: p\nengine: {cpu: 1, cpu: 2}\n", "line 2, column 18: key 'cpu' appears twice"),
        ("name: p\ndescription: !!timestamp 2026-11-28\n", "the tag !!timestamp is not allowed"),
        ("name: !!python/name:os.system p\n", "the tag !!python/name:os.system is not allowed"),
    ],
)
def test_duplicate_keys_and_tags_beyond_plain_data_are_refused(write, text, expected) -> None:
    path = write("p.yaml", text)
    with pytest.raises(ConfigError) as exc:
        profile.load(path)
    assert problems(exc).startswith(f"{path}: ") and expected in problems(exc)


def test_a_set_mistake_is_the_sets_wherever_the_schema_reports_it() -> None:
    # The new kind's required keys are reported at scenarios[0], above the path the --set named.
    with pytest.raises(ConfigError) as exc:
        profile.load("cpu", ["router.routing=session", "scenarios[0].kind=scale"])
    assert exc.value.problems
    assert all(p.startswith("--set scenarios[0].kind=scale: ") for p in exc.value.problems)


def test_the_files_own_problems_stay_the_files_beside_a_set(write) -> None:
    path = write("p.yaml", "name: p\ncolour: blue\n")
    with pytest.raises(ConfigError) as exc:
        profile.load(path, ["engine.replicas=0"])
    first, second = sorted(exc.value.problems)
    assert first == "--set engine.replicas=0: engine.replicas: 0 is less than the minimum of 1"
    assert second.startswith(f"{path}: colour: unknown key")


def test_later_messages_name_the_file_with_its_overrides() -> None:
    assert profile.load("cpu").source.endswith("profiles/cpu.yaml")
    with_sets = profile.load("cpu", ["engine.replicas=3"]).source
    assert with_sets.endswith("profiles/cpu.yaml with --set engine.replicas=3")


@pytest.mark.parametrize("name", SHIPPED)
def test_every_image_a_shipped_profile_deploys_or_renders_is_pinned(name: str) -> None:
    from lab import platforms

    lab = profile.load(name)
    refs = []
    if lab.router.implementation == "production-stack":  # else the chart cannot take it
        rendered = values.render(lab)
        specs = [*rendered["servingEngineSpec"]["modelSpec"], rendered["routerSpec"]]
        refs += [f"{spec['repository']}:{spec['tag']}" for spec in specs]
    for platform in ("kind", "compose"):
        refs += platforms.images(platform, lab)
    assert refs
    for ref in refs:
        tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest", f"{name}: {ref} is not pinned to a version"
