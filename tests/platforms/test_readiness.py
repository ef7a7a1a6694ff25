"""Pod failures named with their cause and fix, from pods shaped as the Kubernetes API returns
them; and the waiting loop's verdicts over a fake API."""

from __future__ import annotations

from typing import Any

import pytest

from lab.errors import StepFailed
from lab.platforms.kube import api as kubeapi
from lab.platforms.kube import readiness
from lab.platforms.kube.api import Clock, Group
from tests.helpers.kubefakes import FakeClock, pod

ENGINE = "vllm-tiny-llama-deployment-vllm-7d9f-0"

CPU_SHORT = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available."
MEMORY_SHORT = "0/1 nodes are available: 1 Insufficient memory."
GPU_SHORT = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
BOTH_SHORT = "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory."
TAINTED = (
    "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure}."
)

CASES: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        "image pull back-off",
        pod(ENGINE, ready=False, waiting=("ImagePullBackOff", 'Back-off pulling image "x:y"')),
        "ImagePullBackOff",
        [
            f"engine pod {ENGINE} cannot become ready: ImagePullBackOff",
            "the node cannot get image public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.32.0: "
            'Back-off pulling image "x:y"',
            "fix: check engine.image/engine.tag",
            "kind load docker-image public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.32.0 "
            "--name vllm-lab",
        ],
    ),
    (
        "router image with a bad name",
        pod("vllm-deployment-router-1", "router", ready=False, waiting=("InvalidImageName", "")),
        "InvalidImageName",
        ["router pod vllm-deployment-router-1", "fix: check router.image/router.tag"],
    ),
    (
        "crash loop, with the container's last log lines",
        pod(
            ENGINE,
            ready=False,
            waiting=("CrashLoopBackOff", "back-off 1m20s"),
            last={"terminated": {"exitCode": 1, "reason": "Error"}},
            restarts=4,
        ),
        "CrashLoopBackOff",
        [
            "container vllm keeps exiting (exit code 1, 4 restarts); its last log lines:",
            "    ValueError: The model's max seq len (4096) is larger than the KV cache",
            "fix: read the lines above",
        ],
    ),
    (
        "killed for memory while crash-looping",
        pod(
            ENGINE,
            ready=False,
            waiting=("CrashLoopBackOff", ""),
            last={"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
            limits={"memory": "3Gi"},
        ),
        "OOMKilled",
        [
            "container vllm was killed for running out of its limit of 3Gi",
            "raise engine.memory, or lower engine.max_model_len, engine.kv_cache_gb",
        ],
    ),
    (
        "killed for memory, no limit",
        pod(ENGINE, ready=False, state={"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
        "OOMKilled",
        ["killed for running out of the node's memory (no limit set)"],
    ),
    (
        "not enough CPU",
        pod(ENGINE, ready=False, phase="Pending", unschedulable=CPU_SHORT),
        "Unschedulable (cpu)",
        [f"the scheduler says: {CPU_SHORT}", "not enough cpu: lower engine.cpu or engine.replicas"],
    ),
    (
        "not enough memory",
        pod(ENGINE, ready=False, phase="Pending", unschedulable=MEMORY_SHORT),
        "Unschedulable (memory)",
        ["not enough memory: lower engine.memory or engine.replicas"],
    ),
    (
        "no GPU to give",
        pod(ENGINE, ready=False, phase="Pending", unschedulable=GPU_SHORT),
        "Unschedulable (nvidia.com/gpu)",
        [
            "not enough nvidia.com/gpu: no node offers a free nvidia.com/gpu",
            "kubectl get pods -n gpu-operator",
        ],
    ),
    (
        "short of two things",
        pod(ENGINE, ready=False, phase="Pending", unschedulable=BOTH_SHORT),
        "Unschedulable (cpu, memory)",
        ["not enough cpu:", "not enough memory:"],
    ),
    (
        "a taint, not a resource",
        pod(ENGINE, ready=False, phase="Pending", unschedulable=TAINTED),
        "Unschedulable",
        ["had untolerated taint", "fix: check node taints, node selectors"],
    ),
    (
        "a Secret that is not there",
        pod(
            ENGINE,
            ready=False,
            waiting=("CreateContainerConfigError", 'secret "vllm-lab-hf-token" not found'),
        ),
        "CreateContainerConfigError",
        ['secret "vllm-lab-hf-token" not found', "$HF_TOKEN set when `up` runs"],
    ),
]
LOGS = "INFO loading\nValueError: The model's max seq len (4096) is larger than the KV cache\n"


@pytest.mark.parametrize(
    ("case", "subject", "cause", "lines"), CASES, ids=[case[0] for case in CASES]
)
def test_failures_are_named_with_cause_and_fix(case, subject, cause: str, lines: list[str]):
    logs = LOGS if readiness.crashing_container(subject) else ""
    found = readiness.diagnose(subject, logs)
    assert found is not None
    assert found.cause == cause
    for line in lines:
        assert line in found.message


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (
            pod(ENGINE, ready=False, phase="Pending", waiting=("ContainerCreating", "")),
            "pulling image or creating container vllm (ContainerCreating)",
        ),
        (pod(ENGINE, ready=False, waiting=("ErrImagePull", "timeout")), "vllm: ErrImagePull"),
        (pod(ENGINE, ready=False), "running, not ready yet (loading the model)"),
        (pod("r", "router", ready=False), "running, not ready yet (starting)"),
        (pod(ENGINE), "ready"),
        (pod(ENGINE, deleting=True), "terminating"),
    ],
)
def test_on_the_way_is_progress_not_failure(subject: dict, expected: str) -> None:
    assert readiness.diagnose(subject) is None
    assert readiness.progress(subject) == expected


def test_unschedulable_waits_as_long_as_the_platform_says() -> None:
    stuck = pod(ENGINE, ready=False, phase="Pending", unschedulable=CPU_SHORT)
    assert readiness.diagnose(stuck, unschedulable_after=60).fatal_after == 60
    assert readiness.diagnose(stuck, unschedulable_after=None).fatal_after is None


def test_summary_for_status() -> None:
    crashing = pod(ENGINE, ready=False, waiting=("CrashLoopBackOff", ""), restarts=5)
    assert readiness.summary(crashing) == "Running, not ready, CrashLoopBackOff, 5 restarts"
    assert readiness.summary(pod(ENGINE)) == "Running, ready"


def test_insufficient_lists_resources_once() -> None:
    assert readiness.insufficient(BOTH_SHORT + " 1 Insufficient cpu.") == ["cpu", "memory"]


# --- the waiting loop over a fake API -----------------------------------------------------------


class ScriptedApi:
    """Pods per poll of the fake clock, and the logs of crashed containers."""

    def __init__(self, clock: FakeClock, *timeline: list[dict], logs: str = "") -> None:
        self.clock, self.timeline, self.log_text = clock, timeline, logs
        self.asked_logs: list[tuple[str, str, bool]] = []

    def pods(self, namespace: str, selector: str) -> list[dict]:
        pods = self.timeline[min(self.clock.ticks, len(self.timeline) - 1)]
        component = "router" if "component=router" in selector else "serving-engine"
        return [
            p for p in pods if p["metadata"]["labels"]["app.kubernetes.io/component"] == component
        ]

    def logs(self, namespace: str, pod: str, container: str, previous: bool = True) -> str:
        self.asked_logs.append((pod, container, previous))
        return self.log_text


def wait(api: ScriptedApi, clock: FakeClock, engines: int = 1, **kw: Any) -> list[Group]:
    groups = [
        Group("router", "app.kubernetes.io/component=router", 1),
        Group("engine", "app.kubernetes.io/component=serving-engine", engines),
    ]
    fake = Clock(poll=1.0, now=clock.now, sleep=clock.sleep)
    return kubeapi.wait_pods(api, "vllm-lab", groups, kw.pop("timeout", 100), fake, **kw)  # type: ignore[arg-type]


def test_wait_returns_the_ready_pods_once_all_are_ready() -> None:
    clock = FakeClock()
    router = pod("router-1", "router")
    api = ScriptedApi(clock, [router, pod(ENGINE, ready=False)], [router, pod(ENGINE)])
    groups = wait(api, clock)
    assert [readiness.name(p) for p in groups[1].ready] == [ENGINE]
    assert clock.ticks == 1


def test_wait_fails_at_once_on_a_crash_loop_with_the_previous_logs() -> None:
    clock = FakeClock()
    crashing = pod(ENGINE, ready=False, waiting=("CrashLoopBackOff", ""), restarts=2)
    api = ScriptedApi(clock, [pod("router-1", "router"), crashing], logs=LOGS)
    with pytest.raises(StepFailed, match="CrashLoopBackOff") as failed:
        wait(api, clock)
    assert "larger than the KV cache" in str(failed.value)
    assert api.asked_logs == [(ENGINE, "vllm", True)]
    assert clock.ticks == 0


def test_unschedulable_is_fatal_only_after_its_grace() -> None:
    clock = FakeClock()
    stuck = pod(ENGINE, ready=False, phase="Pending", unschedulable=GPU_SHORT)
    api = ScriptedApi(clock, [pod("router-1", "router"), stuck])
    with pytest.raises(StepFailed, match=r"nvidia\.com/gpu"):
        wait(api, clock, unschedulable_after=5)
    assert clock.ticks == 5


def test_unschedulable_on_an_autoscaling_cluster_waits_for_the_timeout() -> None:
    clock = FakeClock()
    stuck = pod(ENGINE, ready=False, phase="Pending", unschedulable=GPU_SHORT)
    api = ScriptedApi(clock, [pod("router-1", "router"), stuck])
    with pytest.raises(StepFailed, match="pods not ready after 30 s"):
        wait(api, clock, unschedulable_after=None, timeout=30)


def test_terminating_pods_do_not_count() -> None:
    clock = FakeClock()
    router = pod("router-1", "router")
    old, new = pod("old", deleting=True), pod("new")
    api = ScriptedApi(clock, [router, old, pod("other"), new])
    groups = wait(api, clock, engines=2)
    assert [readiness.name(p) for p in groups[1].ready] == ["new", "other"]


def test_gpus_are_summed_over_nodes() -> None:
    nodes = [
        {"status": {"allocatable": {"nvidia.com/gpu": "2", "cpu": "8"}}},
        {"status": {"allocatable": {"cpu": "4"}}},
        {"status": {"allocatable": {"nvidia.com/gpu": "1"}}},
    ]
    assert kubeapi.gpus(nodes) == 3
