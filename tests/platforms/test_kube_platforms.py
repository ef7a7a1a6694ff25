"""The Kubernetes platforms up to the boundary this machine has: fake kind, minikube, helm,
kubectl, docker and nvidia-smi on PATH (they record what they are asked), and a fake
Kubernetes API for readiness. Pinned here: each platform's command plan, the values handed
to Helm, what is checked before anything is created, what teardown touches, and that the
HF token goes nowhere but the Secret's stdin.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.config import profile, values
from lab.errors import ConfigError, StepFailed
from lab.load import faults
from lab.stack import processes, state
from tests.helpers.kubefakes import Lab, machine, pod

TOKEN = "hf_lab_test_TOKEN_do_not_leak_4242"
ENGINE_IMAGE = "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.32.0"


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    yield from machine(tmp_path, monkeypatch)


def load(name: str = "cpu", *sets: str) -> profile.Profile:
    return profile.load(name, list(sets))


def helm_values(lab: Lab) -> str:
    """What the fake helm was handed with -f at `helm upgrade --install vllm`."""
    (call,) = [
        c for c in lab.fakes.calls() if c["argv"][:4] == ["helm", "upgrade", "--install", "vllm"]
    ]
    return next(iter(call["files"].values()))


def stack_install(state_dir: Path, context: str) -> str:
    return (
        "helm upgrade --install vllm vllm/vllm-stack --version 0.1.12 -n vllm-lab "
        f"-f {state_dir}/{context}/values.yaml"
    )


REPO_ADD = "helm repo add vllm https://vllm-project.github.io/production-stack"


# --- command plans per platform and lab ------------------------------------------------------


def test_cpu_lab_on_kind(lab: Lab) -> None:
    lab.fakes.answer(
        "docker", ["image", "inspect", "--format", "{{.Id}}", ENGINE_IMAGE], "sha256:1"
    )
    pods = lab.ready_stack()
    cpu = load("cpu")
    current = lab.up("kind", cpu)

    config = lab.state_dir / "kind" / "kind-config.yaml"
    assert lab.fakes.changes() == [
        f"kind create cluster --name vllm-lab --config {config} --wait 5m",
        f"kind load docker-image {ENGINE_IMAGE} --name vllm-lab",
        "kubectl create namespace vllm-lab --context kind-vllm-lab",
        "kubectl label namespace vllm-lab app.kubernetes.io/managed-by=vllm-stack-lab "
        "--context kind-vllm-lab",
        REPO_ADD,
        stack_install(lab.state_dir, "kind") + " --kube-context kind-vllm-lab",
    ]
    # The router comes through kind's NodePort mapping; each engine pod gets a port-forward.
    assert lab.fakes.forwards() == [
        f"kubectl port-forward pod/{pods[i]} {lab.ports['engine'] + i}:8000 -n vllm-lab "
        "--address 127.0.0.1 --context kind-vllm-lab"
        for i in range(2)
    ]
    assert helm_values(lab) == values.to_yaml(values.render(cpu, "kind"))
    assert current.endpoints.router == f"http://127.0.0.1:{lab.api.port}"  # as docker port says
    assert [e.url for e in current.endpoints.engines] == [
        f"http://127.0.0.1:{lab.ports['engine'] + i}" for i in range(2)
    ]
    assert current.details["created"] == {
        "cluster": True,
        "namespace": True,
        "release": True,
        "secrets": [],
        "helm_repos": ["vllm"],
    }
    assert state.load().details["engines"] == {"engine-0": pods[0], "engine-1": pods[1]}


def test_kind_config_mounts_the_model_cache_and_maps_the_router(lab: Lab) -> None:
    lab.ready_stack()
    lab.up("kind", load("cpu"))
    (call,) = [c for c in lab.fakes.calls() if c["argv"][:3] == ["kind", "create", "cluster"]]
    config = json.loads(
        json.dumps(__import__("yaml").safe_load(next(iter(call["files"].values()))))
    )
    assert config["name"] == "vllm-lab"
    (node,) = config["nodes"]
    assert node["extraMounts"] == [
        {"hostPath": str(lab.cache / "models"), "containerPath": "/lab-models", "readOnly": True}
    ]
    assert node["extraPortMappings"] == [
        {
            "containerPort": 30080,
            "hostPort": lab.ports["router"],
            "listenAddress": "127.0.0.1",
            "protocol": "TCP",
        }
    ]
    assert "containerdConfigPatches" not in config


def test_cpu_lab_on_minikube(lab: Lab) -> None:
    pods = lab.ready_stack()
    cpu = load("cpu")
    current = lab.up("minikube", cpu)
    assert lab.fakes.changes() == [
        "minikube start -p vllm-lab --driver docker --container-runtime docker --cpus 4 "
        f"--memory 10240mb --mount --mount-string {lab.cache / 'models'}:/lab-models",
        "kubectl create namespace vllm-lab --context vllm-lab",
        "kubectl label namespace vllm-lab app.kubernetes.io/managed-by=vllm-stack-lab "
        "--context vllm-lab",
        REPO_ADD,
        stack_install(lab.state_dir, "minikube") + " --kube-context vllm-lab",
    ]
    assert lab.fakes.forwards() == [
        f"kubectl port-forward svc/vllm-router-service {lab.ports['router']}:80 -n vllm-lab "
        "--address 127.0.0.1 --context vllm-lab",
        *[
            f"kubectl port-forward pod/{pods[i]} {lab.ports['engine'] + i}:8000 -n vllm-lab "
            "--address 127.0.0.1 --context vllm-lab"
            for i in range(2)
        ],
    ]
    assert helm_values(lab) == values.to_yaml(values.render(cpu, "minikube"))
    assert current.endpoints.router == f"http://127.0.0.1:{lab.ports['router']}"
    assert [p.name for p in current.processes] == [
        "forward-router",
        "forward-engine-0",
        "forward-engine-1",
    ]


def gpu_host(lab: Lab) -> None:
    info = {"ServerVersion": "27.3.1", "Runtimes": {"runc": {}, "nvidia": {}}}
    lab.fakes.answer("docker", ["info"], json.dumps(info))
    lab.api.nodes = [{"status": {"allocatable": {"nvidia.com/gpu": "1"}}}]


def test_gpu_lab_on_minikube_installs_the_operator_before_the_stack(lab: Lab, monkeypatch) -> None:
    gpu_host(lab)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    lab.ready_stack(engines=1, model_name="opt-125m")
    gpu = load("gpu")
    lab.up("minikube", gpu)
    assert lab.fakes.changes() == [
        "minikube start -p vllm-lab --driver docker --container-runtime docker --cpus 6 "
        f"--memory 20480mb --mount --mount-string {lab.cache / 'models'}:/lab-models --gpus all",
        "helm repo add nvidia https://helm.ngc.nvidia.com/nvidia",
        "helm upgrade --install gpu-operator nvidia/gpu-operator -n gpu-operator "
        "--create-namespace --version v24.9.1 --set driver.enabled=false "
        "--set toolkit.enabled=false --wait --timeout 15m --kube-context vllm-lab",
        "kubectl create namespace vllm-lab --context vllm-lab",
        "kubectl label namespace vllm-lab app.kubernetes.io/managed-by=vllm-stack-lab "
        "--context vllm-lab",
        "kubectl create -f - -n vllm-lab --context vllm-lab",
        REPO_ADD,
        stack_install(lab.state_dir, "minikube") + " --kube-context vllm-lab",
    ]
    # The engines are only scheduled once a node offers the GPU the operator's plugin exposes.
    assert "/api/v1/nodes" in lab.api.requests
    assert helm_values(lab) == values.to_yaml(values.render(gpu, "minikube", hf_token=True))
    assert any(c["argv"] == ["nvidia-smi", "-L"] for c in lab.fakes.calls())


def test_gpu_lab_on_kind_lets_the_operator_install_the_nodes_toolkit(lab: Lab, monkeypatch) -> None:
    gpu_host(lab)
    info = {"Runtimes": {"nvidia": {}}, "DefaultRuntime": "nvidia"}
    lab.fakes.answer("docker", ["info"], json.dumps(info))
    setting = lab.tmp / "nvidia-config.toml"
    setting.write_text("accept-nvidia-visible-devices-as-volume-mounts = true\n")
    monkeypatch.setattr("lab.platforms.kube.gpu.NVIDIA_RUNTIME_CONFIG", setting)
    lab.ready_stack(engines=1, model_name="opt-125m")
    lab.up("kind", load("gpu"))
    (operator,) = [c for c in lab.fakes.changes() if "gpu-operator" in c and "upgrade" in c]
    assert "--set driver.enabled=false --set toolkit.enabled=true" in operator
    (call,) = [c for c in lab.fakes.calls() if c["argv"][:3] == ["kind", "create", "cluster"]]
    assert "/var/run/nvidia-container-devices/all" in next(iter(call["files"].values()))


def test_existing_cluster_installs_only_the_release(lab: Lab) -> None:
    lab.fakes.answer("kubectl", ["get", "namespace", "vllm-lab"], "namespace/vllm-lab\n")
    pods = lab.ready_stack(model_name="opt-125m")
    hub = load("cpu", "model.source=facebook/opt-125m", "model.name=opt-125m")
    current = lab.up("existing", hub)
    assert lab.fakes.changes() == [
        REPO_ADD,
        stack_install(lab.state_dir, "existing") + " --kube-context prod-cluster",
    ]
    assert lab.fakes.forwards()[0].startswith("kubectl port-forward svc/vllm-router-service")
    assert lab.fakes.forwards()[1].startswith(f"kubectl port-forward pod/{pods[0]}")
    assert helm_values(lab) == values.to_yaml(values.render(hub, "existing"))
    assert current.details["context"] == "prod-cluster"
    assert current.details["created"]["namespace"] is False


def test_the_lab_context_is_pinned_on_every_command(lab: Lab) -> None:
    lab.ready_stack(model_name="opt-125m")
    lab.up("existing", load("cpu", "model.source=facebook/opt-125m", "model.name=opt-125m"))
    for call in lab.fakes.calls():
        if call["tool"] in ("kubectl", "helm") and call["argv"][1:2] not in (["version"], ["repo"]):
            if call["argv"][1:3] == ["config", "current-context"]:
                continue
            assert "prod-cluster" in call["argv"], call["argv"]


# --- the token ---------------------------------------------------------------------------------


def test_hf_token_reaches_only_the_secrets_stdin(lab: Lab, monkeypatch, capsys) -> None:
    gpu_host(lab)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    lab.ready_stack(engines=1, model_name="opt-125m")
    platform = lab.platform("minikube")
    platform.check(load("gpu"))
    platform.up(load("gpu"))
    platform.down(state.load())

    calls = lab.fakes.calls()
    assert not [
        c
        for c in calls
        if TOKEN in json.dumps(c["argv"]) or TOKEN in json.dumps(c.get("files", {}))
    ]
    (secret,) = [c for c in calls if TOKEN in c.get("stdin", "")]
    manifest = json.loads(secret["stdin"])
    assert manifest["metadata"]["name"] == values.HF_TOKEN_SECRET["secretName"]
    assert manifest["stringData"] == {values.HF_TOKEN_SECRET["secretKey"]: TOKEN}
    written = [p for p in lab.state_dir.rglob("*") if p.is_file()]
    assert written, "the lab wrote its files under the state dir"
    assert not [p for p in written if TOKEN in p.read_text(errors="replace")]
    said = capsys.readouterr()
    assert TOKEN not in said.out + said.err
    assert "<<< (secret)" in said.out


# --- before anything is created ----------------------------------------------------------------


def test_missing_tools_are_all_named_before_anything_runs(lab: Lab) -> None:
    for tool in ("helm", "kind", "docker"):
        lab.fakes.remove(tool)
    with pytest.raises(ConfigError) as refused:
        lab.platform("kind").check(load("cpu"))
    problems = "\n".join(refused.value.problems)
    assert "helm is not installed: https://helm.sh/docs/intro/install/" in problems
    assert "kind is not installed: https://kind.sigs.k8s.io/" in problems
    assert (
        "docker is not installed: Docker Engine: https://docs.docker.com/engine/install/"
        in problems
    )
    assert lab.fakes.changes() == [] and lab.fakes.forwards() == []
    assert [c["argv"] for c in lab.fakes.calls()] == [
        ["kubectl", "version", "--client", "-o", "json"]
    ]
    assert state.load() is None


def test_a_gpu_host_without_driver_or_runtime_is_refused(lab: Lab) -> None:
    lab.fakes.remove("nvidia-smi")
    with pytest.raises(ConfigError) as refused:
        lab.platform("minikube").check(load("gpu"))
    problems = "\n".join(refused.value.problems)
    assert "nvidia-smi is not installed (no NVIDIA driver?): install the NVIDIA driver" in problems
    assert "Docker has no 'nvidia' runtime: install the NVIDIA Container Toolkit" in problems
    assert lab.fakes.changes() == []


def test_docker_not_answering_and_old_tools_are_refused(lab: Lab) -> None:
    lab.fakes.answer("docker", ["info"], rc=1, stderr="Cannot connect to the Docker daemon\n")
    lab.fakes.answer("minikube", ["version"], "v1.31.2\n")
    with pytest.raises(ConfigError) as refused:
        lab.platform("minikube").check(load("gpu"))
    problems = "\n".join(refused.value.problems)
    assert "the Docker daemon does not answer (Cannot connect to the Docker daemon)" in problems
    assert "minikube v1.31.2 is too old, v1.32.0 or newer is needed" in problems


def test_a_stopped_minikube_profile_is_named(lab: Lab) -> None:
    listed = {"valid": [{"Name": "vllm-lab", "Status": "Stopped"}], "invalid": []}
    lab.fakes.answer("minikube", ["profile", "list"], json.dumps(listed))
    with pytest.raises(ConfigError, match="minikube profile vllm-lab exists but is Stopped"):
        lab.platform("minikube").check(load("cpu"))


def test_existing_cluster_must_answer_and_offer_gpus(lab: Lab) -> None:
    lab.fakes.answer("kubectl", ["get", "--raw"], rc=1, stderr="Unable to connect to the server\n")
    with pytest.raises(ConfigError, match="cluster of kube context prod-cluster does not answer"):
        lab.platform("existing").check(load("cpu", "model.source=facebook/opt-125m"))
    lab.fakes.answer("kubectl", ["get", "--raw"], '{"gitVersion": "v1.30.2"}')
    with pytest.raises(ConfigError, match=r"offer 0 nvidia\.com/gpu, the profile needs 1"):
        lab.platform("existing").check(load("gpu"))


def test_tiny_model_on_an_existing_cluster_is_refused_in_check(lab: Lab) -> None:
    with pytest.raises(ConfigError, match="which an existing cluster's nodes cannot see"):
        lab.platform("existing").check(load("cpu"))


def test_a_foreign_vllm_helm_repo_is_refused(lab: Lab) -> None:
    repos = [{"name": "vllm", "url": "https://example.com/charts"}]
    lab.fakes.answer("helm", ["repo", "list"], json.dumps(repos))
    with pytest.raises(ConfigError, match=r"the Helm repo 'vllm' points to https://example\.com"):
        lab.platform("kind").check(load("cpu"))


def test_a_release_the_lab_did_not_install_is_not_taken_over(lab: Lab) -> None:
    lab.fakes.answer("helm", ["status", "vllm"], "NAME: vllm\nSTATUS: deployed\n")
    with pytest.raises(StepFailed, match="already exists in namespace vllm-lab, not installed"):
        lab.up("existing", load("cpu", "model.source=facebook/opt-125m"))
    assert lab.fakes.changes() == []


# --- dry run -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        ("kind", ("cpu",)),
        ("minikube", ("cpu",)),
        ("minikube", ("gpu",)),
        ("existing", ("cpu", "model.source=facebook/opt-125m")),
    ],
)
def test_dry_run_executes_nothing(lab: Lab, monkeypatch, capsys, name: str, sets) -> None:
    if "gpu" in sets:
        gpu_host(lab)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    platform = lab.platform(name, dry_run=True)
    platform.check(load(*sets))
    plan = platform.plan(load(*sets))
    assert any(step.startswith("helm upgrade --install") for step in plan.steps)
    assert lab.fakes.changes() == [] and lab.fakes.forwards() == []
    assert not lab.state_dir.exists() or not any(lab.state_dir.rglob("*"))
    said = capsys.readouterr().out
    assert "[dry-run] helm upgrade --install vllm vllm/vllm-stack --version 0.1.12" in said
    assert "[dry-run] write " in said and "values.yaml (sha256 " in said
    assert "[dry-run] kubectl create -f - -n vllm-lab" in said and "<<< (secret)" in said
    assert "steps planned; nothing was changed" in said
    assert TOKEN not in said


def test_dry_run_plan_of_kind_lists_cluster_config_and_forwards(lab: Lab, capsys) -> None:
    platform = lab.platform("kind", dry_run=True)
    platform.check(load("cpu"))
    plan = platform.plan(load("cpu")).steps
    assert plan[0].startswith(f"write {lab.state_dir}/kind/kind-config.yaml (sha256 ")
    assert plan[1].startswith("kind create cluster --name vllm-lab --config ")
    assert plan[-2].startswith("kubectl port-forward pod/ENGINE-POD-0 ")
    assert plan[-1].startswith("kubectl port-forward pod/ENGINE-POD-1 ")


# --- teardown ----------------------------------------------------------------------------------


def test_down_deletes_the_cluster_it_created_and_the_repo_it_added(lab: Lab) -> None:
    lab.ready_stack()
    current = lab.up("kind", load("cpu"))
    pids = [proc.pid for proc in current.processes]
    lab.fakes.clear()
    lines = lab.platform("kind").down(state.load())
    assert lab.fakes.changes() == [
        "kind delete cluster --name vllm-lab",
        "helm repo remove vllm",
    ]
    assert "deleted kind cluster vllm-lab (the lab created it; everything in it went too)" in lines
    assert not any(processes.alive(proc) for proc in current.processes), pids
    assert state.load() is None


def test_down_after_a_reboot_still_deletes_the_cluster_but_signals_no_recorded_process(
    lab: Lab,
) -> None:
    """The state outlived a reboot: its port-forward PIDs may name strangers' processes now
    (here, the forwards themselves stand in for them)."""
    lab.ready_stack()
    current = lab.up("kind", load("cpu"))
    rebooted = state.load()
    assert rebooted is not None
    rebooted.processes = [
        dataclasses.replace(proc, boot_id="0badb007-0000-4000-8000-000000000000")
        for proc in rebooted.processes
    ]
    state.save(rebooted)
    lab.fakes.clear()
    try:
        planned = lab.platform("kind", dry_run=True).down(state.load())
        lines = lab.platform("kind").down(state.load())
        assert lab.fakes.changes() == [
            "kind delete cluster --name vllm-lab",
            "helm repo remove vllm",
        ]
        for proc in current.processes:
            said = f"{proc.name} (pid {proc.pid}) ended with an earlier boot of this machine"
            assert f"{said}: left alone" in planned and f"{said}: left alone" in lines
        assert all(processes.alive(proc) for proc in current.processes)
        assert state.load() is None
    finally:
        for proc in current.processes:
            processes.stop(proc, grace=1)


def test_down_leaves_what_existed_before(lab: Lab) -> None:
    lab.fakes.answer("kind", ["get", "clusters"], "vllm-lab\n")
    lab.fakes.answer("kubectl", ["get", "namespace", "vllm-lab"], "namespace/vllm-lab\n")
    lab.fakes.answer(
        "helm", ["repo", "list"], json.dumps([{"name": "vllm", "url": REPO_ADD.split()[-1]}])
    )
    lab.ready_stack()
    lab.up("kind", load("cpu"))
    assert "kind create cluster" not in " ".join(lab.fakes.changes())
    assert "helm repo update vllm" in lab.fakes.changes()
    lab.fakes.clear()
    lab.fakes.answer("helm", ["status", "vllm"], "STATUS: deployed\n")
    lines = lab.platform("kind").down(state.load())
    assert lab.fakes.changes() == [
        "helm uninstall vllm -n vllm-lab --wait --kube-context kind-vllm-lab",
    ]
    assert "left namespace vllm-lab: it existed before the lab" in lines
    assert "left kind cluster vllm-lab: it existed before the lab" in lines


def test_down_in_an_existing_cluster_removes_release_namespace_and_secrets(
    lab: Lab, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    lab.ready_stack(model_name="opt-125m")
    lab.up("existing", load("cpu", "model.source=facebook/opt-125m", "model.name=opt-125m"))
    lab.fakes.clear()
    lab.fakes.answer("helm", ["status", "vllm"], "STATUS: deployed\n")
    lab.platform("existing").down(state.load())
    # The namespace was the lab's, so its Secret goes with it.
    assert lab.fakes.changes() == [
        "helm uninstall vllm -n vllm-lab --wait --kube-context prod-cluster",
        "kubectl delete namespace vllm-lab --ignore-not-found --context prod-cluster",
        "helm repo remove vllm",
    ]


def test_down_dry_run_changes_nothing(lab: Lab) -> None:
    lab.ready_stack()
    current = lab.up("kind", load("cpu"))
    lab.fakes.clear()
    lines = lab.platform("kind", dry_run=True).down(state.load())
    assert lab.fakes.changes() == []
    assert (
        "would delete kind cluster vllm-lab (the lab created it; everything in it went too)"
        in lines
    )
    assert all(processes.alive(proc) for proc in current.processes)
    assert state.load() is not None


def test_a_failed_teardown_step_keeps_the_state_for_another_try(lab: Lab) -> None:
    lab.ready_stack()
    lab.up("kind", load("cpu"))
    lab.fakes.answer("kind", ["delete"], rc=1, stderr="ERROR: failed to delete cluster\n")
    with pytest.raises(StepFailed, match="could not delete kind cluster vllm-lab"):
        lab.platform("kind").down(state.load())
    assert state.load() is not None


# --- readiness during up -----------------------------------------------------------------------


def test_up_waits_through_pulling_and_loading_then_succeeds(lab: Lab, capsys) -> None:
    router = pod("vllm-deployment-router-5c8-x", "router")
    pulling = pod(
        "vllm-tiny-llama-deployment-vllm-7d9f-0",
        ready=False,
        phase="Pending",
        waiting=("ContainerCreating", ""),
    )
    loading = pod("vllm-tiny-llama-deployment-vllm-7d9f-0", ready=False)
    ready = pod("vllm-tiny-llama-deployment-vllm-7d9f-0")
    lab.api.show([router, pulling], [router, loading], [router, ready])
    lab.up("kind", load("cpu-quick"))
    said = capsys.readouterr().out
    assert "pulling image or creating container vllm (ContainerCreating)" in said
    assert "running, not ready yet (loading the model)" in said
    assert "all pods ready" in said


def test_a_pod_failure_during_up_is_diagnosed_and_the_lab_cleaned_up(lab: Lab, capsys) -> None:
    crashing = pod(
        "vllm-tiny-llama-deployment-vllm-7d9f-0",
        ready=False,
        waiting=("CrashLoopBackOff", "back-off 40s restarting failed container"),
        last={"terminated": {"exitCode": 1, "reason": "Error"}},
        restarts=3,
    )
    lab.api.logs[crashing["metadata"]["name"]] = (
        "loading model\nValueError: max_model_len too large\n"
    )
    lab.api.show([pod("vllm-deployment-router-5c8-x", "router"), crashing])
    with pytest.raises(StepFailed, match="CrashLoopBackOff"):
        lab.up("kind", load("cpu-quick"))
    said = capsys.readouterr().out
    assert "ValueError: max_model_len too large" in said
    assert lab.fakes.changes()[-2:] == [
        "kind delete cluster --name vllm-lab",
        "helm repo remove vllm",
    ]
    assert state.load() is None


def test_readiness_times_out_with_what_is_pending(lab: Lab) -> None:
    lab.api.show([pod("vllm-deployment-router-5c8-x", "router")])  # no engine pod ever
    with pytest.raises(StepFailed, match=r"pods not ready after 10 s: engine: 0 pods, expected 1"):
        lab.up("kind", load("cpu-quick", "kubernetes.ready_timeout=10"))


# --- engine operations -------------------------------------------------------------------------


def engines_of(current: state.State) -> dict[str, Any]:
    return {e.name: e.url for e in current.endpoints.engines}


def test_kill_deletes_the_pod_with_no_grace(lab: Lab) -> None:
    pods = lab.ready_stack()
    current = lab.up("kind", load("cpu"))
    lab.fakes.clear()
    said = lab.platform("kind").kill_engine(current, 1)
    assert lab.fakes.changes() == [
        f"kubectl delete pod {pods[1]} --grace-period=0 --force --wait=false -n vllm-lab "
        "--context kind-vllm-lab"
    ]
    assert pods[1] in said


def test_restart_waits_for_the_replacement_and_forwards_to_it(lab: Lab) -> None:
    pods = lab.ready_stack()
    current = lab.up("kind", load("cpu"))
    before = engines_of(current)
    platform = lab.platform("kind")
    platform.kill_engine(current, 0)
    replacement = "vllm-tiny-llama-deployment-vllm-7d9f-new"
    router = pod("vllm-deployment-router-5c8-x", "router")
    lab.api.show(
        [router, pod(pods[0], deleting=True), pod(pods[1]), pod(replacement, ready=False)],
        [router, pod(pods[1]), pod(replacement)],
    )
    lab.fakes.clear()
    said = platform.restart_engine(current, 0, load("cpu"))
    assert replacement in said
    assert state.load().details["engines"] == {"engine-0": replacement, "engine-1": pods[1]}
    assert engines_of(current) == before  # engine-0 keeps its loopback port
    assert lab.fakes.forwards() == [
        f"kubectl port-forward pod/{replacement} {lab.ports['engine']}:8000 -n vllm-lab "
        "--address 127.0.0.1 --context kind-vllm-lab"
    ]


def test_scale_up_and_down_follows_the_pods(lab: Lab) -> None:
    pods = lab.ready_stack()
    current = lab.up("kind", load("cpu"))
    platform = lab.platform("kind")
    router = pod("vllm-deployment-router-5c8-x", "router")
    third = "vllm-tiny-llama-deployment-vllm-7d9f-2"
    lab.api.show([router, *map(pod, pods), pod(third)])
    lab.fakes.clear()
    platform.scale(current, 3, load("cpu"))
    assert lab.fakes.changes() == [
        "kubectl scale deployment/vllm-tiny-llama-deployment-vllm --replicas=3 -n vllm-lab "
        "--context kind-vllm-lab"
    ]
    assert sorted(engines_of(current)) == ["engine-0", "engine-1", "engine-2"]
    assert state.load().details["engines"]["engine-2"] == third

    lab.api.show([router, pod(pods[1])])
    platform.scale(current, 1, load("cpu"))
    assert state.load().details["engines"] == {"engine-1": pods[1]}
    assert list(engines_of(current)) == ["engine-1"]
    assert [p.meta.get("engine") for p in current.processes if p.meta.get("engine")] == ["engine-1"]


def test_health_reports_pods_and_dead_forwards(lab: Lab) -> None:
    pods = lab.ready_stack()
    current = lab.up("minikube", load("cpu"))
    processes.stop(current.processes[-1], grace=1)  # engine-1's port-forward
    lab.api.show(
        [
            pod("vllm-deployment-router-5c8-x", "router"),
            pod(pods[0]),
            pod(pods[1], ready=False, waiting=("CrashLoopBackOff", ""), restarts=2),
        ]
    )
    conditions = lab.platform("minikube").health(state.load())
    assert conditions["router"] == "Running, ready"
    assert conditions["engine-0"] == f"pod {pods[0]}: Running, ready"
    assert conditions["engine-1"] == (
        f"pod {pods[1]}: Running, not ready, CrashLoopBackOff, 2 restarts; port-forward not running"
    )


# --- faults (issue 40) -------------------------------------------------------------------------

KUBE_FAULTS = (
    "scenarios[0].faults=[{fault: kill, engine: 1, at: 20, for: 20},"
    " {fault: router_restart, at: 60, for: 0}]"
)


def test_faults_on_kubernetes_are_a_pod_delete_and_a_rollout_restart(lab: Lab) -> None:
    pods = lab.ready_stack()
    chosen = load("faults", KUBE_FAULTS)
    current = lab.up("kind", chosen)
    scenario = chosen.scenarios[0]
    assert [line.split(": ", 2)[2] for line in faults.plan_lines(scenario, "kind")] == [
        "pod delete with no grace period; its Deployment starts another",
        "kubectl rollout restart of the router's Deployment",
    ]
    lab.fakes.clear()
    events = faults.events(scenario, lab.platform("kind"), current, chosen)
    assert [name for _, name, _ in events] == [
        "kill engine-1",
        "kill engine-1 end",
        "router_restart",
    ]
    events[0][2]()
    events[2][2]()
    context = "-n vllm-lab --context kind-vllm-lab"
    assert lab.fakes.changes() == [
        f"kubectl delete pod {pods[1]} --grace-period=0 --force --wait=false {context}",
        f"kubectl rollout restart deployment/vllm-deployment-router {context}",
        f"kubectl rollout status deployment/vllm-deployment-router --timeout=300s {context}",
    ]
