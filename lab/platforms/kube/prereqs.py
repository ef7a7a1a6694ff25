"""What the Kubernetes platforms need before anything is created: the tools, their versions,
and a Helm repo name that is free (profile settings: lab.config.checks).

Every missing piece is named with how to get it; only read-only queries run here.
"""

from __future__ import annotations

import re
import shutil

from lab.runner import Runner, json_answer

CHART_REPO = ("vllm", "https://vllm-project.github.io/production-stack")
INSTALL_HINTS = {
    "kubectl": "https://kubernetes.io/docs/tasks/tools/ (Debian: apt install kubectl)",
    "helm": "https://helm.sh/docs/intro/install/ "
    "(curl -fsSL https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-3 | bash)",
    "kind": "https://kind.sigs.k8s.io/docs/user/quick-start/#installation "
    "(go install sigs.k8s.io/kind@latest, or its release binary)",
    "minikube": "https://minikube.sigs.k8s.io/docs/start/ (the minikube-linux-amd64 release "
    "binary: sudo install minikube-linux-amd64 /usr/local/bin/minikube)",
    "docker": "Docker Engine: https://docs.docker.com/engine/install/ "
    "(Debian: apt install docker.io)",
}
VERSION_COMMANDS = {
    "kubectl": ["kubectl", "version", "--client", "-o", "json"],
    "helm": ["helm", "version", "--short"],
    "kind": ["kind", "version"],
    "minikube": ["minikube", "version", "--short"],
}
Version = tuple[int, ...]


def tool_problems(
    run: Runner, tools: tuple[str, ...], minimums: dict[str, Version], versions: dict[str, str]
) -> list[str]:
    """Each tool missing, not running or too old, with how to install it; the versions found
    go into `versions` (recorded in the state for the run manifest)."""
    problems = []
    for tool in tools:
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed: {INSTALL_HINTS[tool]}")
            continue
        if tool not in VERSION_COMMANDS:
            continue  # docker: `docker info` tells more (see lab.platforms.kube.gpu.docker_info)
        done = run.run(VERSION_COMMANDS[tool], query=True, check=False)
        found = version(done.stdout)
        if done.returncode != 0 or found is None:
            problems.append(f"{tool} does not run ({' '.join(VERSION_COMMANDS[tool])} failed)")
            continue
        versions[tool] = "v" + ".".join(map(str, found))
        least = minimums.get(tool)
        if least and found < least:
            problems.append(
                f"{tool} {versions[tool]} is too old, v{'.'.join(map(str, least))} or newer "
                f"is needed: {INSTALL_HINTS[tool]}"
            )
    return problems


def version(text: str) -> Version | None:
    """The first x.y.z in a tool's version output."""
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in match.groups()) if match else None


def helm_repos(run: Runner) -> dict[str, str]:
    """{name: url} of the user's Helm repos (a query)."""
    argv = ["helm", "repo", "list", "-o", "json"]
    done = run.run(argv, query=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return {}  # helm exits non-zero when no repository is configured at all
    listed = json_answer(done, argv, list, lambda items: all(map(_repo_entry, items)))
    return {item["name"]: item["url"] for item in listed}


def _repo_entry(item: object) -> bool:
    return isinstance(item, dict) and isinstance(item.get("name"), str) and "url" in item


def repo_problems(repos: dict[str, str]) -> list[str]:
    name, url = CHART_REPO
    found = repos.get(name)
    if found and found != url:
        return [
            f"the Helm repo '{name}' points to {found}, not production-stack's {url}: "
            f"rename or remove yours (helm repo remove {name})"
        ]
    return []
