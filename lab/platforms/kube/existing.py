"""An existing cluster: the current kube context (or LAB_KUBE_CONTEXT), which the lab neither
creates nor deletes. It installs only its release (and Secrets), in its namespace, which it
creates unless it exists; GPUs must already be offered by the cluster (the lab installs no
cluster-wide operator on a cluster it does not own). The router is port-forwarded.
"""

from __future__ import annotations

from typing import Any

from lab.config.profile import Profile
from lab.platforms.kube import api as kubeapi
from lab.platforms.kube import gpu
from lab.platforms.kube.platform import KubePlatform
from lab.runner import json_answer

CONTEXT_ENV = kubeapi.CONTEXT_ENV


class ExistingPlatform(KubePlatform):
    name = "existing"
    tools = ("kubectl", "helm")
    # A cluster autoscaler may still add a node: an Unschedulable pod waits for the timeout.
    unschedulable_after = None

    def __init__(self, dry_run: bool = False, **kw: Any) -> None:
        super().__init__(dry_run, **kw)
        self._context: str | None = None
        self._no_context = ""  # what kubectl said when it named no context

    def context(self) -> str:
        """Fixed when first asked, so that a context switched mid-lab changes nothing."""
        if self._context is None:
            self._context, self._no_context = kubeapi.chosen_context(self.run)
        return self._context

    def cluster_problems(self, profile: Profile) -> list[str]:
        context = self.context()
        if not context:
            said = f" (kubectl: {self._no_context})" if self._no_context else ""
            return [f"no kube context{said}: kubectl config use-context NAME, or set {CONTEXT_ENV}"]
        asked = ["kubectl", "get", "--raw", "/version", "--context", context]
        done = self.run.run(asked, query=True, check=False)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return [
                f"the cluster of kube context {context} does not answer "
                f"({lines[-1] if lines else f'exit {done.returncode}'}): check the context, "
                f"or choose another with {CONTEXT_ENV}"
            ]
        self.versions["cluster"] = str(json_answer(done, asked).get("gitVersion", "?"))
        if profile.gpu:
            return self._gpu_problems(profile, context)
        return []

    def _gpu_problems(self, profile: Profile, context: str) -> list[str]:
        asked = ["kubectl", "get", "nodes", "-o", "json", "--context", context]
        done = self.run.run(asked, query=True, check=False)
        nodes = json_answer(done, asked).get("items", []) if done.returncode == 0 else []
        found = kubeapi.gpus(nodes)
        if found >= profile.engine.gpu:
            return []
        repo = " ".join(gpu.OPERATOR_REPO)
        install = f"helm repo add {repo} && " + " ".join(gpu.operator_command(context, True))
        return [
            f"the nodes of {context} offer {found} nvidia.com/gpu, the profile needs "
            f"{profile.engine.gpu}: use a GPU node pool, or have the cluster's owner install "
            f"NVIDIA's GPU operator ({install})"
        ]
