"""kind: the stack in a one-node kind cluster named vllm-lab, made from kind/cpu.yaml or
kind/gpu.yaml. The node mounts the host's model cache, and kind maps the router's NodePort to
loopback, so the router needs no port-forward.

Optional (LAB_KIND_REGISTRY_MIRROR=1): a `registry:2` pull-through cache of Docker Hub in a
container (vllm-lab-registry) that the node's containerd asks first; it outlives the cluster,
so repeated labs pull nothing twice. Images already in the local Docker are loaded into the
node with `kind load docker-image`.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any

import yaml

from lab.config import model, values
from lab.config.profile import Profile
from lab.config.validation import parse_yaml
from lab.console import note, say
from lab.paths import asset
from lab.platforms.kube.platform import KubePlatform, images
from lab.platforms.kube.teardown import Teardown
from lab.stack.state import State

CLUSTER = "vllm-lab"
NODE = f"{CLUSTER}-control-plane"  # kind's name for the node container
REGISTRY = "vllm-lab-registry"
REGISTRY_ENV = "LAB_KIND_REGISTRY_MIRROR"
REGISTRY_UPSTREAM = "https://registry-1.docker.io"
# containerd reads per-registry hosts.toml files from here (mounted from the host).
CERTS_DIR = "/etc/containerd/certs.d"
CERTS_PATCH = f'[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "{CERTS_DIR}"\n'
HOSTS_TOML = f"""\
# docker.io pulls of the lab's kind node ask the lab's pull-through cache first.
server = "{REGISTRY_UPSTREAM}"

[host."http://{REGISTRY}:5000"]
  capabilities = ["pull", "resolve"]
"""


def registry_wanted() -> bool:
    return os.environ.get(REGISTRY_ENV, "").lower() not in ("", "0", "false", "no")


def render_config(gpu: bool, model_cache: Path, router_port: int, certs: Path | None) -> str:
    """The kind config for this machine: the template with the host's paths and port, plus the
    registry mirror's containerd settings when asked for."""
    template = asset("kind", "gpu.yaml" if gpu else "cpu.yaml").read_text()
    text = string.Template(template).substitute(
        LAB_MODEL_CACHE=str(model_cache), LAB_ROUTER_PORT=str(router_port)
    )
    if certs is None:
        return text
    config = parse_yaml(text, f"kind/{'gpu.yaml' if gpu else 'cpu.yaml'}")
    config["containerdConfigPatches"] = [CERTS_PATCH]
    config["nodes"][0]["extraMounts"].append(
        {"hostPath": str(certs), "containerPath": CERTS_DIR, "readOnly": True}
    )
    header = "# Rendered by the lab from kind/{} with the registry mirror.\n"
    return header.format("gpu.yaml" if gpu else "cpu.yaml") + yaml.safe_dump(
        config, sort_keys=False
    )


def mapped_port(docker_port_output: str) -> int | None:
    """The host port of `docker port NODE 30080/tcp` ('127.0.0.1:30080'), if any."""
    for line in docker_port_output.split():
        host_port = line.rsplit(":", 1)[-1]
        if host_port.isdigit():
            return int(host_port)
    return None


class KindPlatform(KubePlatform):
    name = "kind"
    tools = ("kubectl", "helm", "kind")
    needs_docker = True
    installs_gpu_operator = True
    cluster_name = f"kind cluster {CLUSTER}"
    # The node is a container with its own containerd: the GPU operator installs the toolkit
    # there, as production-stack's kind GPU tutorial does.
    node_has_toolkit = False

    def __init__(self, dry_run: bool = False, **kw: Any) -> None:
        super().__init__(dry_run, **kw)
        self.host_port = self.ports["router"]

    def context(self) -> str:
        return f"kind-{CLUSTER}"

    def ensure_cluster(self, profile: Profile, current: State) -> None:
        listed = self.run.run(["kind", "get", "clusters"], query=True, check=False).stdout
        if CLUSTER in listed.split():
            note(f"kind cluster {CLUSTER} exists: the lab uses it and will leave it")
            return
        certs = self._registry(current) if registry_wanted() else None
        self.host_port = self._port(current, "the router's kind port mapping", self.ports["router"])
        config = self.run.write(
            self.files_dir() / "kind-config.yaml",
            render_config(profile.gpu, model.tiny_dir().parent, self.host_port, certs),
        )
        current.details["created"]["cluster"] = True  # before: a half-made cluster goes too
        self._save(current)
        self.planned_cluster = self.dry_run
        self.run.run(
            [
                "kind",
                "create",
                "cluster",
                "--name",
                CLUSTER,
                "--config",
                str(config),
                "--wait",
                "5m",
            ],
            timeout=900,
        )
        if certs:
            self._connect_registry()

    def delete_cluster(self, current: State, teardown: Teardown) -> None:
        teardown.act(
            ["kind", "delete", "cluster", "--name", CLUSTER],
            f"delete kind cluster {CLUSTER} (the lab created it; everything in it went too)",
        )

    def load_images(self, profile: Profile) -> None:
        for image in images(profile):
            inspect = ["docker", "image", "inspect", "--format", "{{.Id}}", image]
            if self.run.run(inspect, query=True, check=False).returncode == 0:
                self.run.run(
                    ["kind", "load", "docker-image", image, "--name", CLUSTER], timeout=1800
                )
            else:
                note(f"{image} is not in the local Docker: the node pulls it")

    def router_url(self, profile: Profile, current: State) -> str:
        """Through kind's mapping of the router's NodePort, as Docker reports it (a reused
        cluster may map another port, or none: then a port-forward)."""
        if self.planned_cluster:
            url = f"http://127.0.0.1:{self.host_port}"
            say(f"[dry-run] router at {url} (kind maps NodePort {values.ROUTER_NODE_PORT})")
            return url
        asked = ["docker", "port", NODE, f"{values.ROUTER_NODE_PORT}/tcp"]
        port = mapped_port(self.run.run(asked, query=True, check=False).stdout)
        if port is None:
            note(
                f"kind cluster {CLUSTER} maps no host port to NodePort {values.ROUTER_NODE_PORT} "
                "(made without the lab's config?): the router is reached by port-forward"
            )
            return self._forward_router(current)
        url = f"http://127.0.0.1:{port}"
        self.wait_router(url)
        return url

    def _registry(self, current: State) -> Path:
        """Start (or reuse) the pull-through cache; the folder of hosts.toml the node mounts."""
        certs = self.files_dir() / "certs.d"
        self.run.write(certs / "docker.io" / "hosts.toml", HOSTS_TOML)
        asked = ["docker", "inspect", "--format", "{{.State.Running}}", REGISTRY]
        done = self.run.run(asked, query=True, check=False)
        if done.returncode == 0:
            note(f"registry mirror {REGISTRY} exists: the lab uses it")
            if done.stdout.strip() != "true":
                self.run.run(["docker", "start", REGISTRY])
            return certs
        self.run.run(
            [
                "docker",
                "run",
                "-d",
                "--restart=always",
                "--name",
                REGISTRY,
                "-e",
                f"REGISTRY_PROXY_REMOTEURL={REGISTRY_UPSTREAM}",
                "registry:2",
            ]
        )
        current.details["created"]["registry"] = True
        self._save(current)
        return certs

    def _connect_registry(self) -> None:
        """The node resolves the mirror by name on kind's Docker network."""
        asked = ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", REGISTRY]
        if '"kind"' not in self.run.run(asked, query=True, check=False).stdout:
            self.run.run(["docker", "network", "connect", "kind", REGISTRY])
