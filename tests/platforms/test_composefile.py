"""The Compose configuration a profile renders to, checked without Docker: images with tags,
health checks, loopback-only ports, the router's backends and routing settings, Prometheus'
targets, Grafana's provisioning. With docker-compose installed, it validates the files too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.config import commandlines, dashboards, model, profile
from lab.paths import PACKAGE, asset
from lab.platforms.compose import composefile

PORTS = composefile.Ports(
    router=30080, router_metrics=29000, prometheus=9090, grafana=3000, engines=(8000, 8001, 8002)
)


def load(*sets: str, name: str = "cpu") -> profile.Profile:
    return profile.load(name, ["engine.replicas=3", "observability.grafana=true", *sets])


def merged(lab: profile.Profile, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Each service as Compose sees it: base file, engine template (extends), rendered file."""
    base = yaml.safe_load(composefile.base_file().read_text())["services"]
    template = yaml.safe_load(composefile.engine_file().read_text())["services"]["engine"]
    rendered = composefile.render(lab, 3, PORTS, tmp_path / "prometheus.yml")["services"]
    services = {}
    for name, service in rendered.items():
        start = template if "extends" in service else base.get(name, {})
        healthcheck = {**start.get("healthcheck", {}), **service.get("healthcheck", {})}
        # Compose merges mounts by their path in the container, the later file winning.
        by_target = {
            v.split(":")[1]: v for v in [*start.get("volumes", []), *service.get("volumes", [])]
        }
        volumes = list(by_target.values())
        services[name] = {**start, **service, "healthcheck": healthcheck, "volumes": volumes}
    return services


def test_every_service_has_an_image_with_a_tag_and_a_health_check(tmp_path) -> None:
    services = merged(load(), tmp_path)
    assert set(services) == {"engine-0", "engine-1", "engine-2", "router", "prometheus", "grafana"}
    for name, service in services.items():
        repository, _, tag = service["image"].rpartition(":")
        assert repository and tag and "/" not in tag, (name, service["image"])
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert service["restart"] == "no", name


def test_images_and_tags_come_from_the_profile(tmp_path) -> None:
    sets = (
        "engine.image=example/vllm-cpu",
        "engine.tag=v9",
        "router.image=example/router",
        "router.tag=r1",
        "observability.prometheus_image=example/prom:p2",
        "observability.grafana_image=example/grafana:g3",
    )
    services = merged(load(*sets), tmp_path)
    assert {services[f"engine-{i}"]["image"] for i in range(3)} == {"example/vllm-cpu:v9"}
    assert services["router"]["image"] == "example/router:r1"
    assert services["prometheus"]["image"] == "example/prom:p2"
    assert services["grafana"]["image"] == "example/grafana:g3"


def test_published_ports_are_on_loopback_only(tmp_path) -> None:
    for implementation in ("production-stack", "vllm-router"):
        services = merged(load(f"router.implementation={implementation}"), tmp_path)
        for name, service in services.items():
            assert service["ports"], name
            assert all(port.startswith("127.0.0.1:") for port in service["ports"]), name
    for fixed in (composefile.base_file(), composefile.engine_file()):
        for name, service in yaml.safe_load(fixed.read_text())["services"].items():
            assert "ports" not in service, f"{fixed.name}: {name} publishes ports"


def test_host_ports_are_the_chosen_ones(tmp_path) -> None:
    services = merged(load("router.implementation=vllm-router"), tmp_path)
    assert [services[f"engine-{i}"]["ports"] for i in range(3)] == [
        ["127.0.0.1:8000:8000"],
        ["127.0.0.1:8001:8000"],
        ["127.0.0.1:8002:8000"],
    ]
    assert services["router"]["ports"] == ["127.0.0.1:30080:8000", "127.0.0.1:29000:29000"]
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]


def test_engine_command_is_the_local_platforms_inside_a_container(tmp_path) -> None:
    lab = load("engine.extra_args=[--enforce-eager]", "engine.max_model_len=1024")
    engine = merged(lab, tmp_path)["engine-1"]
    loads = f"/models/{model.tiny_dir().name}"
    expected = commandlines.engine_command(lab, loads, 8000)
    expected[0] = "python3"
    expected[expected.index("--host") + 1] = "0.0.0.0"
    assert engine["command"] == expected
    assert engine["command"][:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert "--enforce-eager" in engine["command"]
    assert engine["command"][engine["command"].index("--max-model-len") + 1] == "1024"
    env = dict(item.split("=", 1) for item in engine["environment"] if "=" in item)
    assert env["LAB_ENGINE_NAME"] == "engine-1"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == str(lab.engine.kv_cache_gb)
    assert env["PYTHONPATH"] == composefile.LAB_CODE  # the engines' --middleware is the lab's


def test_the_model_cache_and_the_lab_code_are_mounted_read_only(tmp_path) -> None:
    engine = merged(load(), tmp_path)["engine-0"]
    assert f"{model.tiny_dir().parent}:/models:ro" in engine["volumes"]
    assert f"{PACKAGE}:{composefile.LAB_CODE}/lab:ro" in engine["volumes"]
    assert "engine-cache:/root/.cache" in engine["volumes"]  # from compose/engine.yml
    assert engine["shm_size"] == "1g"


def test_a_local_model_folder_is_mounted_and_a_hub_model_is_not(tmp_path) -> None:
    folder = tmp_path / "models" / "my-model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    engine = merged(load(f"model.source={folder}"), tmp_path)["engine-0"]
    assert f"{folder.parent}:/models:ro" in engine["volumes"]
    assert engine["command"][engine["command"].index("--model") + 1] == "/models/my-model"
    engine = merged(load("model.source=facebook/opt-125m"), tmp_path)["engine-0"]
    assert not any(v.endswith(":/models:ro") for v in engine["volumes"])
    assert engine["command"][engine["command"].index("--model") + 1] == "facebook/opt-125m"
    assert "HF_TOKEN" in engine["environment"]  # by name: the value comes from Compose's env


def test_secrets_are_named_never_written(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_TEST_KEY", "s3cret-value")
    lab = load("engine.api_key_env=LAB_TEST_KEY")
    text = composefile.to_yaml(composefile.render(lab, 3, PORTS, tmp_path / "p.yml"))
    assert "s3cret-value" not in text
    assert "VLLM_API_KEY" in merged(lab, tmp_path)["engine-0"]["environment"]


@pytest.mark.parametrize("implementation", ["production-stack", "vllm-router"])
def test_router_backends_are_exactly_the_engine_services(implementation, tmp_path) -> None:
    services = merged(load(f"router.implementation={implementation}"), tmp_path)
    engines = sorted(name for name in services if name.startswith("engine-"))
    argv = services["router"]["entrypoint"] + services["router"]["command"]
    if implementation == "vllm-router":
        start = argv.index("--worker-urls") + 1
        end = next(i for i in range(start, len(argv)) if argv[i].startswith("--"))
        backends = argv[start:end]
    else:
        backends = argv[argv.index("--static-backends") + 1].split(",")
        models = argv[argv.index("--static-models") + 1].split(",")
        assert models == ["tiny-llama"] * len(engines)
        assert argv[argv.index("--service-discovery") + 1] == "static"
    assert backends == [f"http://{name}:8000" for name in engines]
    assert set(services["router"]["depends_on"]) == set(engines)
    assert all(
        v == {"condition": "service_healthy"} for v in services["router"]["depends_on"].values()
    )


@pytest.mark.parametrize("routing", ["roundrobin", "session", "prefixaware"])
def test_routing_settings_reach_the_router(routing, tmp_path) -> None:
    stack = merged(load(f"router.routing={routing}", "router.session_key=x-session-id"), tmp_path)
    argv = stack["router"]["command"]
    assert argv[argv.index("--routing-logic") + 1] == routing
    assert argv[argv.index("--session-key") + 1] == "x-session-id"
    assert stack["router"]["entrypoint"] == [composefile.STACK_ROUTER]

    rust = merged(load(f"router.routing={routing}", "router.implementation=vllm-router"), tmp_path)
    argv = rust["router"]["command"]
    assert argv[argv.index("--policy") + 1] == commandlines.POLICIES[routing]
    assert rust["router"]["entrypoint"] == ["vllm-router"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--prometheus-host") + 1] == "0.0.0.0"


@pytest.mark.parametrize("implementation", ["production-stack", "vllm-router"])
def test_prometheus_scrapes_every_engine_and_the_router(implementation) -> None:
    lab = load(f"router.implementation={implementation}")
    config = composefile.prometheus_config(lab, 3)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    engines = jobs["vllm-lab-engine-service"]["static_configs"]
    assert [c["targets"] for c in engines] == [
        ["engine-0:8000"],
        ["engine-1:8000"],
        ["engine-2:8000"],
    ]
    assert [c["labels"]["pod"] for c in engines] == ["engine-0", "engine-1", "engine-2"]
    router = jobs["vllm-lab-router-service"]
    port = 29000 if implementation == "vllm-router" else 8000
    assert router["static_configs"] == [{"targets": [f"router:{port}"]}]
    assert router["metrics_path"] == "/metrics"


def test_the_dashboards_job_variables_select_the_compose_jobs() -> None:
    """The shared dashboards pick engines and router by job regex; Compose's jobs match."""
    import json
    import re

    jobs = [j["job_name"] for j in composefile.prometheus_config(load(), 3)["scrape_configs"]]
    for path in dashboards.files():
        variables = {
            v["name"]: v["query"] for v in json.loads(path.read_text())["templating"]["list"]
        }
        assert re.fullmatch(variables["engine_job"], jobs[0]), path.name
        assert re.fullmatch(variables["router_job"], jobs[1]), path.name


def test_grafana_provisions_the_datasource_and_each_dashboard(tmp_path) -> None:
    grafana = merged(load(), tmp_path)["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    provisioning = Path(next(h for h, c in mounts.items() if c == "/etc/grafana/provisioning"))
    assert provisioning == asset("compose", "grafana", "provisioning")

    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    [source] = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True

    [provider] = yaml.safe_load((provisioning / "dashboards" / "vllm-lab.yml").read_text())[
        "providers"
    ]
    served = Path(next(h for h, c in mounts.items() if c == provider["options"]["path"]))
    assert served == asset("dashboards")
    shipped = dashboards.files()
    if not shipped:
        pytest.skip("dashboards/ has no dashboard yet")
    for path in shipped:
        assert path.parent == served, path  # every shipped dashboard is under the provider


def test_services_started_follow_the_profile() -> None:
    assert composefile.services(load(), 2) == [
        "engine-0", "engine-1", "router", "prometheus", "grafana",
    ]  # fmt: skip
    off = profile.load("cpu", ["observability.prometheus=false", "observability.grafana=true"])
    assert composefile.services(off, 1) == ["engine-0", "router"]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose")
def test_docker_compose_accepts_the_files(tmp_path) -> None:
    """docker-compose validates both files, merged, without a daemon."""
    lab = load("router.implementation=vllm-router")
    scrape = tmp_path / "prometheus.yml"
    scrape.write_text(composefile.to_yaml(composefile.prometheus_config(lab, 3)))
    override = tmp_path / "lab.yml"
    override.write_text(composefile.to_yaml(composefile.render(lab, 3, PORTS, scrape)))
    argv = composefile.command_line(["docker-compose"], override)
    done = subprocess.run([*argv, "config"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert set(config["services"]) == {
        "engine-0", "engine-1", "engine-2", "router", "prometheus", "grafana",
    }  # fmt: skip
    engine = config["services"]["engine-2"]
    assert engine["healthcheck"]["start_period"] == "10m"  # the profile's startup_timeout
    assert engine["shm_size"] == "1g"
    assert set(config["volumes"]) == {"engine-cache", "prometheus-data", "grafana-data"}


def test_policy_settings_reach_each_compose_router(tmp_path) -> None:
    rust = merged(
        load(
            "router.implementation=vllm-router", "router.routing=prefixaware",
            "router.policy={balance_abs_threshold: 2, balance_rel_threshold: 1.2, "
            "cache_threshold: 0.5, eviction_interval: 30, max_tree_size: 100000}",
        ),
        tmp_path,
    )  # fmt: skip
    argv = rust["router"]["command"]
    for flag, value in [
        ("--balance-abs-threshold", "2"), ("--balance-rel-threshold", "1.2"),
        ("--cache-threshold", "0.5"), ("--eviction-interval-secs", "30"),
        ("--max-tree-size", "100000"),
    ]:  # fmt: skip
        assert argv[argv.index(flag) + 1] == value
    stack = merged(
        load("router.routing=prefixaware", "router.policy.prefix_min_match_length=256"), tmp_path
    )
    argv = stack["router"]["command"]
    assert argv[argv.index("--prefix-min-match-length") + 1] == "256"
