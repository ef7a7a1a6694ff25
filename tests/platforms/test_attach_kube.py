"""The attach platform on a production-stack release on Kubernetes, with the fake Kubernetes API
and fake kubectl the Kubernetes platforms' tests use: the release's router Service and engine
pods found by the chart's labels, the port-forwards planned exactly, and nothing created,
changed or deleted, in a dry run or for real. `down` stops the forwards and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from lab.config import profile
from lab.errors import StepFailed
from lab.platforms.attach import release
from lab.platforms.attach.platform import AttachPlatform
from lab.platforms.kube.api import Api
from lab.stack import processes, state
from tests.helpers.kubefakes import Lab, machine, pod, router_service


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    yield from machine(tmp_path, monkeypatch)


def on_kubernetes() -> profile.Profile:
    return profile.load("attach", ["target.kubernetes=true"])


def release_with_neighbours(lab: Lab) -> list[str]:
    """Release vllm (a router Service, two ready engines, one not ready) beside release other."""
    names = ["vllm-tiny-llama-deployment-vllm-1", "vllm-tiny-llama-deployment-vllm-0"]
    neighbour = pod("other-engine-0")
    neighbour["metadata"]["labels"]["app.kubernetes.io/instance"] = "other"
    lab.api.show(
        [
            pod("vllm-deployment-router-5c8-x", "router"),
            *(pod(name) for name in names),
            pod("vllm-tiny-llama-deployment-vllm-2", ready=False),
            neighbour,
        ]
    )
    lab.api.services = [router_service("other", 8080), router_service("vllm")]
    return sorted(names)


def forwards(lab: Lab, engines: list[str]) -> list[str]:
    router, engine = lab.ports["router"], lab.ports["engine"]
    tail = "-n vllm-lab --address 127.0.0.1 --context prod-cluster"
    return [
        f"kubectl port-forward svc/vllm-router-service {router}:80 {tail}",
        *(
            f"kubectl port-forward pod/{name} {engine + i}:8000 {tail}"
            for i, name in enumerate(engines)
        ),
    ]


def test_the_release_is_found_by_the_charts_labels(lab: Lab) -> None:
    engines = release_with_neighbours(lab)
    found = release.find(Api("prod-cluster"), "vllm-lab", "vllm")
    assert found.router == release.Forward(
        "forward-router", "svc/vllm-router-service", 80, {"component": "router"}
    )
    assert [f.to for f in found.engines] == [f"pod/{name}" for name in engines]
    assert [f.meta["engine"] for f in found.engines] == ["engine-0", "engine-1"]
    assert [unquote(r) for r in lab.api.requests] == [
        "/api/v1/namespaces/vllm-lab/services?labelSelector="
        "app.kubernetes.io/instance=vllm,app.kubernetes.io/component=router",
        "/api/v1/namespaces/vllm-lab/pods?labelSelector="
        "app.kubernetes.io/instance=vllm,app.kubernetes.io/component=serving-engine",
    ]


def test_the_dry_run_shows_every_call_and_none_is_a_write(lab: Lab, capsys) -> None:
    engines = release_with_neighbours(lab)
    platform = AttachPlatform(dry_run=True, ports=lab.ports)
    platform.check(on_kubernetes())
    steps = platform.plan(on_kubernetes()).steps
    assert steps[:2] == release.reads("vllm-lab", "vllm")
    assert steps[2:5] == [line + " &" for line in forwards(lab, engines)]
    assert steps[-1].startswith("start only these port-forwards; create, change or delete nothing")
    said = capsys.readouterr().out
    assert all(f"[dry-run] {step}" in said for step in steps)
    # Every program call was a read (the kube context); the API was only listed (GET).
    assert [c["argv"] for c in lab.fakes.calls()] == [["kubectl", "config", "current-context"]]
    assert lab.fakes.changes() == [] and lab.fakes.forwards() == []
    assert all("/services?" in r or "/pods?" in r for r in lab.api.requests)
    assert not lab.state_dir.exists()


def test_up_forwards_to_the_release_and_down_stops_only_those(lab: Lab) -> None:
    engines = release_with_neighbours(lab)
    platform = AttachPlatform(ports=lab.ports)
    platform.check(on_kubernetes())
    current = platform.up(on_kubernetes())
    assert lab.fakes.forwards() == forwards(lab, engines)
    assert lab.fakes.changes() == []
    where = current.require_endpoints()
    assert where.router == f"http://127.0.0.1:{lab.ports['router']}"
    assert [e.url for e in where.engines] == [
        f"http://127.0.0.1:{lab.ports['engine'] + i}" for i in range(2)
    ]
    saved = state.require()
    assert [p.name for p in saved.processes] == [
        "forward-router", "forward-engine-0", "forward-engine-1"]  # fmt: skip
    assert all(p.boot_id and p.started for p in saved.processes)
    assert platform.health(saved)["target"] == "answers"
    lines = AttachPlatform(ports=lab.ports).down(saved)
    assert not any(processes.alive(p) for p in saved.processes)
    assert lines[-1].endswith("nothing there was stopped or changed") and len(lines) == 4
    assert lab.fakes.changes() == [] and state.load() is None


def test_a_release_that_is_not_there_is_named_and_nothing_starts(lab: Lab) -> None:
    release_with_neighbours(lab)
    platform = AttachPlatform(ports=lab.ports)
    wrong = profile.load("attach", ["target.kubernetes=true", "kubernetes.release=vllm2"])
    with pytest.raises(StepFailed, match="release vllm2 not found in namespace vllm-lab of kube"):
        platform.check(wrong)
    assert lab.fakes.forwards() == [] and not lab.state_dir.exists()
