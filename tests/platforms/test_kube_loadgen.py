"""Locust workers as pods beside a Kubernetes stack (load.workers: cluster), up to the boundary
this machine has: the objects rendered, what `run --dry-run` and `up --dry-run` show, the
kubectl calls made (fake kubectl and docker on PATH), and what is refused before anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lab import platforms
from lab.cli import main
from lab.config import profile
from lab.errors import ConfigError
from lab.load import levels, locust
from lab.platforms.kube import loadgen
from lab.runner import Runner
from lab.stack.endpoints import Endpoints
from lab.stack.state import State
from tests.helpers.kubefakes import Lab, machine

CLUSTER = ["load.processes=3", "load.workers=cluster"]
DETAILS = {"namespace": "vllm-lab", "release": "vllm", "context": "kind-vllm-lab"}
GATEWAYS = "172.18.0.1 fc00:f853:ccd:e793::1 \n"  # kind's network: IPv4 and IPv6


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    yield from machine(tmp_path, monkeypatch)


def worker_argv() -> list[str]:
    lab = profile.load("cpu")
    level = levels.levels(lab.scenarios[1])[0]
    endpoints = Endpoints("http://127.0.0.1:30080", (), "tiny-llama", "roundrobin", "x-user-id",
                          tokenizer="/home/me/model")  # fmt: skip
    return locust.pod_worker_command(level, lab.scenarios[1], endpoints, loadgen.SERVICE, 5557)


def test_the_job_runs_workers_that_reach_the_master_through_a_service() -> None:
    argv = worker_argv()
    service, endpoints, job = loadgen.manifests("vllm-lab", "c4", 3, "lab/locust:1", "172.18.0.1",
                                                5557, argv)  # fmt: skip
    assert (service["kind"], service["metadata"]["name"]) == ("Service", loadgen.SERVICE)
    assert "selector" not in service["spec"]  # its Endpoints name this machine instead
    assert endpoints["subsets"] == [
        {"addresses": [{"ip": "172.18.0.1"}],
         "ports": [{"name": "locust", "port": 5557, "protocol": "TCP"}]}
    ]  # fmt: skip
    spec = job["spec"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (3, 3, 0)
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"] == "lab/locust:1" and container["workingDir"] == loadgen.WORKDIR
    command = container["command"]
    assert command[:5] == ["python", "-m", "locust", "-f", "locustfiles/throughput.py"]
    assert command[8:12] == ["--master-host", loadgen.SERVICE, "--master-port", "5557"]
    assert "--worker" in command
    # Paths of this machine mean nothing in a pod: the words come from the master.
    assert "--lab-words" not in command and "--lab-tokenizer" not in command
    assert container["resources"] == {"requests": {"cpu": "1"}}
    for item in (service, endpoints, job):
        assert item["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "vllm-stack-lab"


def test_a_host_name_is_reached_through_an_external_name_and_the_api_key_from_its_secret():
    key = {"secretName": "s", "secretKey": "k", "env": "VLLM_API_KEY"}
    found = loadgen.manifests("ns", "rate8", 2, "img:1", "host.minikube.internal", 6000, ["x"], key)
    service, job = found
    assert service["spec"]["type"] == "ExternalName"
    assert service["spec"]["externalName"] == "host.minikube.internal"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]


def test_workers_are_applied_per_level_and_their_job_deleted_after(lab: Lab) -> None:
    lab.fakes.answer("docker", ["network", "inspect", "kind"], GATEWAYS)
    current = State("kind", {}, "cpu", details=DETAILS)
    workers = loadgen.cluster_workers(profile.load("cpu", CLUSTER), current, Runner())
    assert workers is not None and workers.address == "172.18.0.1"
    assert workers.router == "http://vllm-router-service.vllm-lab.svc:80"
    workers.start("c4", 3, 5600, worker_argv())
    workers.stop("c4")
    apply, delete = lab.fakes.changes()
    assert apply == "kubectl apply -f - -n vllm-lab --context kind-vllm-lab"
    assert delete.startswith("kubectl delete job vllm-lab-locust-c4 --ignore-not-found")
    (applied,) = [c for c in lab.fakes.calls() if "stdin" in c]
    kinds = [item["kind"] for item in json.loads(applied["stdin"])["items"]]
    assert kinds == ["Service", "Endpoints", "Job"]


def test_run_dry_run_shows_the_master_open_to_the_pods_and_what_they_get(
    lab: Lab, monkeypatch, capsys
) -> None:
    lab.fakes.answer("docker", ["network", "inspect", "kind"], GATEWAYS)
    monkeypatch.setenv("LAB_PLATFORM", "kind")
    sets = [arg for item in CLUSTER for arg in ("--set", item)]
    assert main(["run", "--dry-run", "--profile", "cpu", "--scenario", "throughput", *sets]) == 0
    said = capsys.readouterr().out
    assert "--master-bind-host 0.0.0.0" in said and "--expect-workers 3" in said
    assert "--host http://vllm-router-service.vllm-lab.svc:80" in said  # the pods' router
    assert "[dry-run] kubectl apply -f - -n vllm-lab" in said
    documents = said.split("[dry-run] for c1:\n")[1].split("[dry-run] kubectl")[0]
    _, endpoints, job = yaml.safe_load_all(documents)
    assert endpoints["subsets"][0]["addresses"] == [{"ip": "172.18.0.1"}]
    assert job["metadata"]["name"] == "vllm-lab-locust-c1"
    assert lab.fakes.changes() == []  # nothing applied


def test_up_dry_run_says_how_the_load_is_made(lab: Lab, capsys) -> None:
    lab.fakes.answer("docker", ["network", "inspect", "kind"], GATEWAYS)
    sets = [arg for item in CLUSTER for arg in ("--set", item)]
    assert main(["up", "--dry-run", "--platform", "kind", "--profile", "cpu", *sets]) == 0
    said = capsys.readouterr().out
    assert "load: per level a Locust master here and 3 worker pods" in said
    assert "kind: Job" in said and "vllm-lab-locust-master" in said


@pytest.mark.parametrize(
    ("platform", "sets", "expected"),
    [
        ("local", CLUSTER, "cluster workers run as pods, on kind, minikube or existing"),
        ("compose", CLUSTER, "not on compose"),
        ("kind", ["load.workers=cluster"], "need load.processes of 2 or more"),
        ("existing", CLUSTER, "load.master_address: the pods of an existing cluster"),
        ("kind", [*CLUSTER, "scenarios[1].direct=true"], "direct: the worker pods cannot reach"),
    ],
)
def test_what_cannot_run_is_refused_before_anything(platform, sets, expected) -> None:
    (problem,) = platforms.worker_problems(profile.load("cpu", sets), platform)
    assert expected in problem
    with pytest.raises(ConfigError, match=expected):
        platforms.cluster_workers(profile.load("cpu", sets), State(platform, {}, "cpu"))


def test_up_refuses_pods_on_a_platform_without_them(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path))
    sets = [arg for item in CLUSTER for arg in ("--set", item)]
    assert main(["up", "--platform", "local", "--profile", "cpu", *sets]) == 2
    assert "load.workers: cluster workers run as pods" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing started, nothing written
