"""GPUs for the kind and Minikube labs: what the host must have, and the NVIDIA GPU operator.

The operator comes from NVIDIA's Helm chart, as production-stack's GPU tutorials install it.
Its driver is always switched off (the host's driver serves the node); its container toolkit
is switched off where the node already has one (Minikube's node image ships it for
`--gpus all`) and left on for kind, whose containerd inside the node needs it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lab.runner import Runner

OPERATOR_REPO = ("nvidia", "https://helm.ngc.nvidia.com/nvidia")
OPERATOR_CHART = "nvidia/gpu-operator"
OPERATOR_RELEASE = "gpu-operator"
OPERATOR_NAMESPACE = "gpu-operator"
OPERATOR_VERSION = "v24.9.1"
NVIDIA_RUNTIME_CONFIG = Path("/etc/nvidia-container-runtime/config.toml")
VOLUME_MOUNTS_SETTING = "accept-nvidia-visible-devices-as-volume-mounts"

DRIVER_HINT = "install the NVIDIA driver for your GPU (https://www.nvidia.com/Download/)"
TOOLKIT_HINT = (
    "install the NVIDIA Container Toolkit (https://docs.nvidia.com/datacenter/cloud-native/"
    "container-toolkit/latest/install-guide.html), "
    "then: sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker"
)


def docker_info(run: Runner) -> tuple[dict | None, str]:
    """(`docker info` as JSON, or None when no daemon answers; the error line)."""
    done = run.run(["docker", "info", "--format", "{{json .}}"], query=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return None, lines[-1] if lines else f"exit {done.returncode}"
    try:
        return json.loads(done.stdout), ""
    except json.JSONDecodeError:
        return {}, ""


def host_problems(run: Runner, platform: str, info: dict | None) -> list[str]:
    """What this host lacks for GPU engines on `platform` (kind or minikube), each with its fix.
    `info` is `docker info` (None when Docker does not answer: reported elsewhere)."""
    problems = []
    if shutil.which("nvidia-smi") is None:
        problems.append(f"nvidia-smi is not installed (no NVIDIA driver?): {DRIVER_HINT}")
    else:
        done = run.run(["nvidia-smi", "-L"], query=True, check=False)
        if done.returncode != 0 or "GPU" not in done.stdout:
            problems.append(f"nvidia-smi finds no GPU (exit {done.returncode}): {DRIVER_HINT}")
    if info is None:
        return problems
    runtimes = info.get("Runtimes") or {}
    if "nvidia" not in runtimes:
        problems.append(f"Docker has no 'nvidia' runtime: {TOOLKIT_HINT}")
    elif platform == "kind":
        problems += _kind_problems(info)
    return problems


def _kind_problems(info: dict) -> list[str]:
    """kind nodes get the GPU through the default runtime and a /dev/null volume mount, as
    production-stack's kind GPU tutorial sets them up."""
    problems = []
    if info.get("DefaultRuntime") != "nvidia":
        problems.append(
            "kind needs nvidia as Docker's default runtime: "
            "sudo nvidia-ctk runtime configure --runtime=docker --set-as-default && "
            "sudo systemctl restart docker"
        )
    text = NVIDIA_RUNTIME_CONFIG.read_text() if NVIDIA_RUNTIME_CONFIG.exists() else ""
    if not any(
        line.replace(" ", "") == f"{VOLUME_MOUNTS_SETTING}=true" for line in text.splitlines()
    ):
        problems.append(
            f"kind needs `{VOLUME_MOUNTS_SETTING} = true` in {NVIDIA_RUNTIME_CONFIG} "
            "(the GPU reaches the node as a volume mount)"
        )
    return problems


def operator_command(context: str, toolkit: bool) -> list[str]:
    return [
        "helm",
        "upgrade",
        "--install",
        OPERATOR_RELEASE,
        OPERATOR_CHART,
        "-n",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--version",
        OPERATOR_VERSION,
        "--set",
        "driver.enabled=false",
        "--set",
        f"toolkit.enabled={str(toolkit).lower()}",
        # The operator's own pods must be up before the device plugin it deploys can be waited on.
        "--wait",
        "--timeout",
        "15m",
        "--kube-context",
        context,
    ]
