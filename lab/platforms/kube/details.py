"""The Kubernetes platforms' part of the state file, typed (the state schema checks it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.platforms.protocol import Details, drains


@dataclass(frozen=True)
class KubeDetails(Details):
    context: str = ""
    namespace: str = ""
    release: str = ""
    engine: str = ""  # the engines' Deployment name stem
    replicas: int = 0
    created: dict[str, Any] = field(default_factory=dict)  # what the lab made (and deletes)
    engines: dict[str, str] = field(default_factory=dict)  # engine name -> pod
    gpu_operator_found: bool = False  # the NVIDIA GPU operator was there before the lab

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KubeDetails:
        return cls(
            drains=drains(data),
            context=data["context"],
            namespace=data["namespace"],
            release=data["release"],
            engine=data.get("engine", ""),
            replicas=data.get("replicas", 0),
            created=data.get("created", {}),
            engines=data.get("engines", {}),
            gpu_operator_found=data.get("gpu_operator_found", False),
        )


def planned(profile: Any) -> dict[str, Any]:
    """What a dry run assumes of a cluster no lab has made yet (the worker pods' plan needs the
    namespace and release)."""
    return {
        "namespace": profile.kubernetes.namespace,
        "release": profile.kubernetes.release,
        "context": "<the lab's kube context>",
    }
