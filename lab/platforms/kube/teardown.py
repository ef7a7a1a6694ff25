"""Teardown on Kubernetes: remove exactly what `up` recorded in state.details["created"], say
each step as done, and say what is left because the lab did not create it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.platforms.kube import gpu
from lab.platforms.kube.details import KubeDetails
from lab.runner import Runner

PAST = {"delete": "deleted", "uninstall": "uninstalled", "remove": "removed", "stop": "stopped"}


@dataclass
class Teardown:
    """Steps said as done; a failed one is noted and the rest still run."""

    run: Runner
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def act(self, argv: list[str], what: str) -> None:
        """Run one removal; `what` is said in the infinitive ('delete namespace x')."""
        done = self.run.run(argv, check=False, timeout=900)
        if self.run.dry_run:
            self.lines.append(f"would {what}")
        elif done.returncode == 0:
            verb, _, rest = what.partition(" ")
            self.lines.append(f"{PAST.get(verb, verb)} {rest}")
        else:
            output = (done.stderr or done.stdout).strip().splitlines()
            last = output[-1] if output else "no output"
            self.failures.append(f"could not {what} (exit {done.returncode}: {last})")
            self.lines.append(f"❗ could not {what}")


def remove_from_cluster(details: KubeDetails, teardown: Teardown) -> None:
    """In a cluster the lab did not create: its release, its namespace if it created it (else
    only its Secrets), the GPU operator if it installed it."""
    created, release, namespace = details.created, details.release, details.namespace
    helm_context = ["--kube-context", details.context]
    kubectl_context = ["--context", details.context]
    if created.get("release"):
        status = ["helm", "status", release, "-n", namespace, *helm_context]
        if teardown.run.run(status, query=True, check=False).returncode == 0:
            teardown.act(
                ["helm", "uninstall", release, "-n", namespace, "--wait", *helm_context],
                f"uninstall Helm release {release} from namespace {namespace}",
            )
        else:
            teardown.lines.append(f"Helm release {release} was already gone")
    if created.get("namespace"):
        teardown.act(
            ["kubectl", "delete", "namespace", namespace, "--ignore-not-found", *kubectl_context],
            f"delete namespace {namespace} (the lab created it)",
        )
    else:
        for secret in created.get("secrets", []):
            teardown.act(
                [
                    "kubectl",
                    "delete",
                    "secret",
                    secret,
                    "-n",
                    namespace,
                    "--ignore-not-found",
                    *kubectl_context,
                ],
                f"delete Secret {secret}",
            )
        teardown.lines.append(f"left namespace {namespace}: it existed before the lab")
    if details.gpu_operator_found:
        teardown.lines.append("left the NVIDIA GPU operator: it was there before the lab")
    if created.get("gpu_operator"):
        teardown.act(
            [
                "helm",
                "uninstall",
                gpu.OPERATOR_RELEASE,
                "-n",
                gpu.OPERATOR_NAMESPACE,
                *helm_context,
            ],
            "uninstall the NVIDIA GPU operator",
        )
        if created.get("gpu_namespace"):
            teardown.act(
                [
                    "kubectl",
                    "delete",
                    "namespace",
                    gpu.OPERATOR_NAMESPACE,
                    "--ignore-not-found",
                    *kubectl_context,
                ],
                f"delete namespace {gpu.OPERATOR_NAMESPACE} (the lab created it)",
            )
