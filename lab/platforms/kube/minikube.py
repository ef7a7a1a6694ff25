"""Minikube: the stack in a Minikube profile named vllm-lab (Docker driver), sized from the
lab profile, with the host's model cache mounted into the node. GPUs with `--gpus all`,
which needs the NVIDIA runtime in the host's Docker; Minikube's node image brings the
container toolkit. The router is reached through a managed port-forward.
"""

from __future__ import annotations

import re

from lab.config import model, values
from lab.config.profile import Profile
from lab.console import note
from lab.errors import ConfigError
from lab.platforms.kube.platform import KubePlatform, images
from lab.platforms.kube.teardown import Teardown
from lab.runner import json_answer
from lab.stack.state import State

PROFILE = "vllm-lab"
# Room beside the engines for the router, kube-system and the monitoring stack.
EXTRA_CPUS = 2
EXTRA_MIB = 4096
UNITS_MIB = {
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "Ti": 1024**2,
    "K": 1e3 / 2**20,
    "M": 1e6 / 2**20,
    "G": 1e9 / 2**20,
    "T": 1e12 / 2**20,
    "": 1 / 2**20,
}
HEALTHY = ("Running", "OK")  # `minikube profile list` says one or the other, by version


def mib(quantity: str) -> int:
    """A Kubernetes memory quantity ('3Gi', '500M') in MiB, rounded up."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T|)", quantity.strip())
    if not match:
        raise ConfigError(f"engine.memory: '{quantity}' is not a memory quantity such as 3Gi")
    return -int(-float(match[1]) * UNITS_MIB[match[2]] // 1)


def start_command(profile: Profile) -> list[str]:
    """`minikube start` for this lab: enough CPUs and memory for its engines plus room."""
    engine = profile.engine
    cpus = engine.replicas * engine.cpu + EXTRA_CPUS
    memory = engine.replicas * mib(engine.memory) + EXTRA_MIB
    argv = ["minikube", "start", "-p", PROFILE, "--driver", "docker"]
    argv += ["--container-runtime", "docker", "--cpus", str(cpus), "--memory", f"{memory}mb"]
    argv += ["--mount", "--mount-string", f"{model.tiny_dir().parent}:{values.NODE_MODEL_DIR}"]
    if profile.gpu:
        argv += ["--gpus", "all"]
    return argv


class MinikubePlatform(KubePlatform):
    name = "minikube"
    tools = ("kubectl", "helm", "minikube")
    needs_docker = True
    installs_gpu_operator = True
    cluster_name = f"minikube profile {PROFILE}"
    node_has_toolkit = True  # Minikube's node image has it for --gpus all

    def context(self) -> str:
        return PROFILE  # Minikube names the kube context after the profile

    def minimums(self, profile: Profile) -> dict[str, tuple[int, ...]]:
        found = super().minimums(profile)
        if profile.gpu:
            found["minikube"] = (1, 32, 0)  # the first with --gpus
        return found

    def cluster_problems(self, profile: Profile) -> list[str]:
        status = self._status()
        if status is None or status in HEALTHY:
            return []
        return [
            f"minikube profile {PROFILE} exists but is {status}: start it "
            f"(minikube start -p {PROFILE}) or delete it (minikube delete -p {PROFILE})"
        ]

    def ensure_cluster(self, profile: Profile, current: State) -> None:
        if self._status() is not None:
            note(f"minikube profile {PROFILE} exists: the lab uses it and will leave it")
            return
        current.details["created"]["cluster"] = True  # before: a half-made profile goes too
        self._save(current)
        self.planned_cluster = self.dry_run
        self.run.run(start_command(profile), timeout=1800)

    def delete_cluster(self, current: State, teardown: Teardown) -> None:
        teardown.act(
            ["minikube", "delete", "-p", PROFILE],
            f"delete minikube profile {PROFILE} (the lab created it; everything in it went too)",
        )

    def load_images(self, profile: Profile) -> None:
        for image in images(profile):
            inspect = ["docker", "image", "inspect", "--format", "{{.Id}}", image]
            if self.run.run(inspect, query=True, check=False).returncode == 0:
                self.run.run(["minikube", "image", "load", image, "-p", PROFILE], timeout=1800)
            else:
                note(f"{image} is not in the local Docker: the node pulls it")

    def _status(self) -> str | None:
        """The lab's profile's status, None when there is no such profile."""
        asked = ["minikube", "profile", "list", "-o", "json"]
        done = self.run.run(asked, query=True, check=False)
        listed = json_answer(done, asked, dict, _profile_list) if done.returncode == 0 else {}
        for entry in (listed.get("valid") or []) + (listed.get("invalid") or []):
            if entry.get("Name") == PROFILE:
                return entry.get("Status") or "Unknown"
        return None


def _profile_list(listed: dict) -> bool:
    """`minikube profile list -o json` as the lab reads it: lists of profiles (mappings)."""
    groups = [listed.get("valid") or [], listed.get("invalid") or []]
    return all(isinstance(g, list) and all(isinstance(e, dict) for e in g) for g in groups)
