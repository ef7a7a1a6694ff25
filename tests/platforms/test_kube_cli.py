"""The Kubernetes platforms as a user drives them (python -m lab up/down/monitor), and what is
particular to kind (registry mirror, port mapping) and Minikube (sizing)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lab import monitor
from lab.config import profile
from lab.platforms.kube import kind, minikube
from lab.platforms.kube import monitor as kube_monitor
from lab.stack import processes, state
from tests.helpers.kubefakes import Lab, machine
from tests.helpers.lab import lab_main


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    yield from machine(tmp_path, monkeypatch)


def cli(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m lab ARGS` with this test's environment (fakes alone on PATH), from the
    checkout; in this process (lab_main): a new interpreter per command cost most of these
    tests' time, and what they show is the command's, not the entry point's."""
    return lab_main(*args, state_dir=lab.state_dir, cwd=Path(__file__).resolve().parents[2])


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["kind", "minikube"])
def test_up_dry_run_prints_the_plan_and_changes_nothing(lab: Lab, platform: str) -> None:
    done = cli(lab, "up", "--platform", platform, "--profile", "cpu", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"platform: {platform} (chosen with --platform)" in done.stdout
    assert "[dry-run] helm upgrade --install vllm vllm/vllm-stack" in done.stdout
    assert "steps planned; nothing was changed" in done.stdout
    assert lab.fakes.changes() == [] and lab.fakes.forwards() == []
    assert state.load() is None


def test_missing_prerequisites_fail_the_command_with_each_named(lab: Lab) -> None:
    for tool in ("helm", "minikube"):
        lab.fakes.remove(tool)
    done = cli(lab, "up", "--platform", "minikube", "--profile", "cpu")
    assert done.returncode == 2
    assert "error: helm is not installed: https://helm.sh/docs/intro/install/" in done.stderr
    assert "error: minikube is not installed: https://minikube.sigs.k8s.io/" in done.stderr
    assert lab.fakes.changes() == []


def test_down_dry_run_from_the_command_line(lab: Lab) -> None:
    lab.ready_stack()
    current = lab.up("minikube", profile.load("cpu"))
    lab.fakes.clear()
    done = cli(lab, "down", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[dry-run] minikube delete -p vllm-lab" in done.stdout
    assert "would delete minikube profile vllm-lab" in done.stdout
    assert lab.fakes.changes() == []
    assert all(processes.alive(proc) for proc in current.processes)


# --- monitor ---------------------------------------------------------------------------------


def test_service_names_follow_the_subcharts_rules() -> None:
    assert kube_monitor.prometheus_service("vllm") == "vllm-kube-prometheus-stack-prometheus"
    assert kube_monitor.grafana_service("vllm") == "vllm-grafana"
    # kube-prometheus-stack cuts its fullname to 26 characters
    assert kube_monitor.prometheus_service("lab-release") == "lab-release-kube-prometheu-prometheus"


def test_monitor_names_the_services_and_how_to_reach_them(lab: Lab, capsys) -> None:
    lab.ready_stack(model_name="opt-125m")
    lab.up(
        "existing",
        profile.load(
            "cpu",
            ["model.source=facebook/opt-125m", "model.name=opt-125m", "observability.grafana=true"],
        ),
    )
    capsys.readouterr()
    monitor.run(port_forward=False)
    said = capsys.readouterr().out
    assert (
        "Prometheus: svc/vllm-kube-prometheus-stack-prometheus:9090 in namespace vllm-lab" in said
    )
    assert "reach it: kubectl port-forward svc/vllm-grafana 3000:80 -n vllm-lab" in said
    assert "jsonpath='{.data.admin-password}'" in said
    assert "vLLM Lab / Engines" in said


def test_monitor_port_forward_is_recorded_and_stopped_by_down(lab: Lab, capsys) -> None:
    lab.ready_stack(model_name="opt-125m")
    sets = ["model.source=facebook/opt-125m", "model.name=opt-125m", "observability.grafana=true"]
    lab.up("existing", profile.load("cpu", sets))
    monitor.run(port_forward=True, ports=lab.ports)
    current = state.load()
    prom = f"http://127.0.0.1:{lab.ports['prometheus']}"
    assert current.endpoints.prometheus == prom
    assert current.endpoints.grafana == f"http://127.0.0.1:{lab.ports['grafana']}"
    prometheus = "svc/vllm-kube-prometheus-stack-prometheus"
    assert lab.fakes.forwards()[-2:] == [
        f"kubectl port-forward {prometheus} {lab.ports['prometheus']}:9090 "
        "-n vllm-lab --address 127.0.0.1 --context prod-cluster",
        f"kubectl port-forward svc/vllm-grafana {lab.ports['grafana']}:80 "
        "-n vllm-lab --address 127.0.0.1 --context prod-cluster",
    ]
    started = len(lab.fakes.forwards())
    monitor.run(port_forward=True, ports=lab.ports)  # a second time reuses them
    assert len(lab.fakes.forwards()) == started
    forwards = [
        p for p in current.processes if p.meta.get("component") in ("prometheus", "grafana")
    ]
    lab.platform("existing").down(state.load())
    assert not any(processes.alive(proc) for proc in forwards)


def test_monitor_with_prometheus_off_says_so(lab: Lab, capsys) -> None:
    lab.ready_stack()
    lab.up("kind", profile.load("cpu", ["observability.prometheus=false"]))
    capsys.readouterr()
    monitor.run()
    assert "observability.prometheus is off" in capsys.readouterr().out


# --- kind ------------------------------------------------------------------------------------


def test_registry_mirror_is_started_wired_and_left_behind(lab: Lab, monkeypatch) -> None:
    monkeypatch.setenv("LAB_KIND_REGISTRY_MIRROR", "1")
    lab.ready_stack()
    lab.up("kind", profile.load("cpu"))
    changes = lab.fakes.changes()
    assert changes[:3] == [
        "docker run -d --restart=always --name vllm-lab-registry "
        "-e REGISTRY_PROXY_REMOTEURL=https://registry-1.docker.io registry:2",
        f"kind create cluster --name vllm-lab --config {lab.state_dir}/kind/kind-config.yaml "
        "--wait 5m",
        "docker network connect kind vllm-lab-registry",
    ]
    (call,) = [c for c in lab.fakes.calls() if c["argv"][:3] == ["kind", "create", "cluster"]]
    config = yaml.safe_load(next(iter(call["files"].values())))
    assert config["containerdConfigPatches"] == [kind.CERTS_PATCH]
    certs = lab.state_dir / "kind" / "certs.d"
    assert {
        "hostPath": str(certs),
        "containerPath": "/etc/containerd/certs.d",
        "readOnly": True,
    } in config["nodes"][0]["extraMounts"]
    hosts = (certs / "docker.io" / "hosts.toml").read_text()
    assert '[host."http://vllm-lab-registry:5000"]' in hosts
    lines = lab.platform("kind").down(state.load())
    assert "docker rm" not in " ".join(lab.fakes.changes())
    assert any(
        line.startswith("left the registry mirror container vllm-lab-registry") for line in lines
    )


def test_an_existing_registry_is_reused(lab: Lab, monkeypatch) -> None:
    monkeypatch.setenv("LAB_KIND_REGISTRY_MIRROR", "yes")
    lab.fakes.answer("docker", ["inspect", "--format", "{{.State.Running}}"], "true\n")
    lab.fakes.answer(
        "docker",
        ["inspect", "--format", "{{json .NetworkSettings.Networks}}"],
        '{"bridge": {}, "kind": {}}',
    )
    lab.ready_stack()
    current = lab.up("kind", profile.load("cpu"))
    assert not [c for c in lab.fakes.changes() if c.startswith("docker")]
    assert "registry" not in current.details["created"]


def test_a_reused_kind_cluster_without_the_port_mapping_gets_a_port_forward(lab: Lab) -> None:
    lab.fakes.answer("kind", ["get", "clusters"], "other\nvllm-lab\n")
    lab.fakes.answer("docker", ["port"], "", rc=1, stderr="Error: No public port '30080/tcp'\n")
    lab.ready_stack()
    current = lab.up("kind", profile.load("cpu"))
    assert lab.fakes.forwards()[0].startswith(
        f"kubectl port-forward svc/vllm-router-service {lab.ports['router']}:80"
    )
    assert current.endpoints.router == f"http://127.0.0.1:{lab.ports['router']}"


def test_mapped_port_reads_docker_port() -> None:
    assert kind.mapped_port("127.0.0.1:30080\n") == 30080
    assert kind.mapped_port("0.0.0.0:31000\n[::]:31000\n") == 31000
    assert kind.mapped_port("") is None


def test_gpu_kind_host_needs_the_default_runtime_and_volume_mounts(lab: Lab, monkeypatch) -> None:
    lab.fakes.answer(
        "docker", ["info"], json.dumps({"Runtimes": {"nvidia": {}}, "DefaultRuntime": "runc"})
    )
    setting = lab.tmp / "config.toml"
    setting.write_text("#accept-nvidia-visible-devices-as-volume-mounts = false\n")
    monkeypatch.setattr("lab.platforms.kube.gpu.NVIDIA_RUNTIME_CONFIG", setting)
    with pytest.raises(Exception) as refused:
        lab.platform("kind").check(profile.load("gpu"))
    problems = "\n".join(refused.value.problems)
    assert (
        "kind needs nvidia as Docker's default runtime: sudo nvidia-ctk runtime configure"
        in problems
    )
    assert "kind needs `accept-nvidia-visible-devices-as-volume-mounts = true`" in problems


# --- minikube --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("3Gi", 3072), ("500Mi", 500), ("1G", 954), ("1.5Gi", 1536), ("2048Ki", 2)],
)
def test_memory_quantities_in_mib(quantity: str, expected: int) -> None:
    assert minikube.mib(quantity) == expected


def test_minikube_is_sized_from_the_profile(lab: Lab) -> None:
    argv = minikube.start_command(
        profile.load("cpu", ["engine.replicas=3", "engine.cpu=2", "engine.memory=4Gi"])
    )
    assert argv[argv.index("--cpus") + 1] == "8"
    assert argv[argv.index("--memory") + 1] == f"{3 * 4096 + 4096}mb"
    assert "--gpus" not in argv
