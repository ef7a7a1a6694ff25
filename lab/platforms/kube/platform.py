"""What the Kubernetes platforms (kind, minikube, existing) share: production-stack's
`vllm-stack` chart installed with Helm from the profile's rendered values, into a namespace
the lab creates and labels, with readiness diagnosed, and teardown of only what the lab made.

Subclasses say how the cluster comes and goes and how the router is reached. Every command
goes through lab.runner.Runner, pinned to the lab's kube context (a changed current context
never redirects the lab). Whatever the lab creates is recorded in state.details["created"] as
soon as it exists, so `down`, or a failed `up`, removes exactly that and says what it leaves.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from lab import paths
from lab.config import environment, model, values
from lab.config.profile import Profile
from lab.console import bad, note, say
from lab.errors import ConfigError, LabError, StepFailed
from lab.platforms.kube import api as kubeapi
from lab.platforms.kube import gpu, portforward, prereqs, readiness
from lab.platforms.kube.api import Api, ApiFactory, Clock, Group
from lab.platforms.kube.engines import EngineOps, engine_selector, kube, kubectl, router_selector
from lab.platforms.kube.teardown import Teardown, remove_from_cluster
from lab.platforms.plan import Plan
from lab.runner import Runner
from lab.stack import endpoints, processes, state
from lab.stack.state import State

LAB_LABEL = "app.kubernetes.io/managed-by=vllm-stack-lab"
CHART = "vllm/vllm-stack"
# Loopback ports tried first (the design's conventions); a taken one is said and skipped.
DEFAULT_PORTS = {"router": 30080, "engine": 8000, "grafana": 3000, "prometheus": 9090}
MINIMUM_VERSIONS = {"helm": (3, 8, 0)}  # the chart's dependencies are OCI charts


class KubePlatform(EngineOps):
    """The chart on some cluster; subclasses fill in the cluster."""

    name = "kube"
    tools: tuple[str, ...] = ("kubectl", "helm")
    needs_docker = False
    installs_gpu_operator = False
    cluster_name = ""  # what `down` says it left when the lab did not create the cluster
    node_has_toolkit = True  # does the node already have the NVIDIA container toolkit?
    # Seconds an Unschedulable pod may wait: on one node, nothing frees up by waiting.
    unschedulable_after: float | None = 60.0

    def __init__(
        self,
        dry_run: bool = False,
        *,
        api: ApiFactory | None = None,
        clock: Clock | None = None,
        ports: dict[str, int] | None = None,
        router_timeout: float = 60.0,
    ) -> None:
        self.dry_run = dry_run
        self.run = Runner(dry_run=dry_run)
        self.api_factory = api or Api
        self.clock = clock or Clock()
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        self.router_timeout = router_timeout
        self.versions: dict[str, str] = {}
        self.docker: dict | None = None
        self.repos: dict[str, str] | None = None
        self.planned_cluster = False  # a dry run only plans the cluster: do not ask it

    # --- what subclasses decide -------------------------------------------------------------

    def context(self) -> str:
        raise NotImplementedError

    def cluster_problems(self, profile: Profile) -> list[str]:
        return []

    def minimums(self, profile: Profile) -> dict[str, tuple[int, ...]]:
        return dict(MINIMUM_VERSIONS)

    def ensure_cluster(self, profile: Profile, current: State) -> None:
        """Create the cluster unless it exists; record whether the lab created it."""

    def delete_cluster(self, current: State, teardown: Teardown) -> None:
        """Delete the cluster the lab created (everything in it goes with it)."""

    def load_images(self, profile: Profile) -> None:
        """Hand images already in the local Docker to the node, so it pulls nothing twice."""

    def router_url(self, profile: Profile, current: State) -> str:
        """How the router is reached from here: by default, a managed port-forward."""
        return self._forward_router(current)

    # --- Platform interface -----------------------------------------------------------------

    def check(self, profile: Profile) -> None:
        problems = []
        try:
            values.render(profile, self.name)
        except ConfigError as exc:
            problems += exc.problems
        tools = (*self.tools, "docker") if self.needs_docker else self.tools
        missing = prereqs.tool_problems(self.run, tools, self.minimums(profile), self.versions)
        problems += missing
        if self.needs_docker and shutil.which("docker"):
            self.docker, error = gpu.docker_info(self.run)
            if self.docker is None:
                problems.append(
                    f"the Docker daemon does not answer ({error}): start it "
                    "(sudo systemctl start docker) or point DOCKER_HOST at one"
                )
        if profile.gpu and self.installs_gpu_operator:
            problems += gpu.host_problems(self.run, self.name, self.docker)
        if shutil.which("helm"):
            problems += prereqs.repo_problems(self._known_repos())
        problems += environment.problems(profile)  # the chart's own refusals came with render
        if not missing:
            problems += self.cluster_problems(profile)
        if problems:
            raise ConfigError(problems)
        found = ", ".join(f"{tool} {version}" for tool, version in self.versions.items())
        say(f"🔧 {self.name}: {found}")

    def plan(self, profile: Profile) -> Plan:
        """Every step of `up` with a runner that only plans: commands and files (with their
        content hashes) are said, read-only queries run, nothing changes."""
        model.locate(profile)
        kept = (self.dry_run, self.run)
        self.dry_run, self.run = True, Runner(dry_run=True)
        try:
            self._up(profile, self._new_state(profile))
            say(f"[dry-run] {len(self.run.plan)} steps planned; nothing was changed")
            return Plan(self.name, list(self.run.plan))
        finally:
            self.dry_run, self.run = kept

    def up(self, profile: Profile) -> State:
        if self.dry_run:
            raise LabError(f"{self.name}: a dry run plans (plan()), it does not bring anything up")
        current = self._new_state(profile)
        try:
            self._up(profile, current)
        except BaseException:
            self._clean_after_failure(current)
            raise
        return current

    def _new_state(self, profile: Profile) -> State:
        current = State(platform=self.name, profile=profile.resolved, profile_source=profile.source)
        current.details = {
            "context": self.context(),
            "namespace": profile.kubernetes.namespace,
            "release": profile.kubernetes.release,
            "engine": values.engine_name(profile),
            "replicas": profile.engine.replicas,
            "created": {"cluster": False, "namespace": False, "release": False, "secrets": []},
            "engines": {},
            "tools": dict(self.versions),
        }
        return current

    def health(self, current: State) -> dict[str, str]:
        details = kube(current)
        try:
            selector = f"app.kubernetes.io/instance={details.release}"
            pods = self._api(current).pods(details.namespace, selector)
        except Exception as exc:  # whatever the client raises, the cluster is not answering
            return {"router": f"cluster not answering ({type(exc).__name__})"}
        by_name = {readiness.name(pod): pod for pod in pods}
        routers = [pod for pod in pods if readiness.role(pod) == "router"]
        conditions = {"router": readiness.summary(routers[0]) if routers else "no router pod"}
        for engine, pod in details.engines.items():
            found = by_name.get(pod)
            conditions[engine] = f"pod {pod}: {readiness.summary(found) if found else 'gone'}"
        for proc in current.processes:
            if not processes.alive(proc):
                key = proc.meta.get("engine") or proc.meta.get("component") or proc.name
                conditions[key] = conditions.get(key, key) + "; port-forward not running"
        return conditions

    def restart_router(self, current: State, profile: Profile) -> str:
        raise ConfigError(
            f"restart-router: on {current.platform} the router is the chart's Deployment; "
            "change router settings with `python -m lab down` and `up`"
        )

    def down(self, current: State, volumes: bool = False) -> list[str]:
        if volumes:
            raise ConfigError("--volumes: a Kubernetes lab keeps no volumes of its own")
        teardown = Teardown(self.run)
        for proc in reversed(current.processes):
            if self.dry_run:
                teardown.lines.append(processes.planned_stop(proc))
            else:
                teardown.lines.append(portforward.stop(proc))
        created = kube(current).created
        if created.get("cluster"):
            self.delete_cluster(current, teardown)
        else:
            remove_from_cluster(kube(current), teardown)
            if self.cluster_name:
                teardown.lines.append(f"left {self.cluster_name}: it existed before the lab")
        for repo in created.get("helm_repos", []):
            teardown.act(["helm", "repo", "remove", repo], f"remove Helm repo {repo}")
        if created.get("registry"):
            teardown.lines.append(
                "left the registry mirror container vllm-lab-registry: it is the cache the next "
                "lab pulls from (docker rm -f vllm-lab-registry removes it)"
            )
        if teardown.failures:
            for line in teardown.lines:
                say(f"🧹 {line}")
            raise StepFailed(
                "teardown incomplete, state kept (run `python -m lab down` again): "
                + "; ".join(teardown.failures)
            )
        if not self.dry_run:
            state.clear()
        return teardown.lines

    # --- the steps of up --------------------------------------------------------------------

    def _up(self, profile: Profile, current: State) -> None:
        self._prepare_model(profile)
        self.ensure_cluster(profile, current)
        self._save(current)
        self.load_images(profile)
        if profile.gpu and self.installs_gpu_operator:
            self._gpu_operator(profile, current)
        self._refuse_foreign_release(current)
        self._namespace(current)
        self._secrets(profile, current)
        self._chart_repo(current)
        self._install(profile, current)
        pods = self._wait_ready(profile, current)
        router = self.router_url(profile, current)
        engines = [self._forward_engine(current, f"engine-{i}", pod) for i, pod in enumerate(pods)]
        current.endpoints = endpoints.kube(profile, router, engines, current.details)
        self._save(current)

    def _prepare_model(self, profile: Profile) -> None:
        """The node mounts the host's model cache: it (and the tiny model) must exist first."""
        if self.dry_run:
            if profile.model.is_tiny and not model.is_made(model.tiny_dir()):
                say(f"[dry-run] make lab:tiny-llama at {model.tiny_dir()}")
            return
        model.tiny_dir().parent.mkdir(parents=True, exist_ok=True)
        if profile.model.is_tiny:
            folder, made = model.ensure_tiny()
            if made:
                say(f"🧱 made lab:tiny-llama at {folder}")

    def _gpu_operator(self, profile: Profile, current: State) -> None:
        """NVIDIA's GPU operator, before the stack: engines need nvidia.com/gpu to schedule."""
        created = current.details["created"]  # written below: the state's own record
        context = kube(current).context
        created["gpu_namespace"] = True
        if self._asks_cluster(current):
            status = ["helm", "status", gpu.OPERATOR_RELEASE, "-n", gpu.OPERATOR_NAMESPACE]
            done = self.run.run([*status, "--kube-context", context], query=True, check=False)
            if done.returncode == 0:
                note("the NVIDIA GPU operator is installed already: the lab uses it and leaves it")
                created["gpu_namespace"] = False
                current.details["gpu_operator_found"] = True
                self._wait_gpus(profile, current)
                return
            created["gpu_namespace"] = not self._exists(
                current, "namespace", gpu.OPERATOR_NAMESPACE
            )
        self._add_repo(current, *gpu.OPERATOR_REPO)
        created["gpu_operator"] = True
        self._save(current)
        self.run.run(gpu.operator_command(context, toolkit=not self.node_has_toolkit), timeout=1200)
        self._wait_gpus(profile, current)

    def _wait_gpus(self, profile: Profile, current: State) -> None:
        needed = profile.engine.gpu
        if self.dry_run:
            say(f"[dry-run] wait until the nodes offer {needed} nvidia.com/gpu")
            return
        kubeapi.wait_gpus(self._api(current), needed, profile.kubernetes.ready_timeout, self.clock)

    def _refuse_foreign_release(self, current: State) -> None:
        """`helm upgrade --install` would take over a release someone else installed."""
        if not self._asks_cluster(current):
            return
        details = kube(current)
        release, namespace = details.release, details.namespace
        status = ["helm", "status", release, "-n", namespace]
        context = ["--kube-context", details.context]
        if self.run.run([*status, *context], query=True, check=False).returncode == 0:
            raise StepFailed(
                f"a Helm release {release} already exists in namespace {namespace}, not "
                f"installed by this lab: remove it (helm uninstall {release} -n {namespace}) or "
                "choose another name (--set kubernetes.release=NAME)"
            )

    def _namespace(self, current: State) -> None:
        details = kube(current)
        namespace = details.namespace
        if self._asks_cluster(current) and self._exists(current, "namespace", namespace):
            note(f"namespace {namespace} exists: the lab uses it and will leave it")
            return
        context = ["--context", details.context]
        self.run.run(["kubectl", "create", "namespace", namespace, *context])
        current.details["created"]["namespace"] = True
        self._save(current)
        self.run.run(["kubectl", "label", "namespace", namespace, LAB_LABEL, *context])

    def _secrets(self, profile: Profile, current: State) -> None:
        """HF token and API key from the environment into the Secrets the values refer to, sent
        on stdin: never in an argument, a file, the values, the state or a log."""
        wanted = (
            (profile.model.hf_token_env, values.HF_TOKEN_SECRET),
            (profile.engine.api_key_env, values.API_KEY_SECRET),
        )
        for variable, ref in wanted:
            secret = os.environ.get(variable) if variable else None
            if not secret:
                continue
            name, namespace = ref["secretName"], kube(current).namespace
            manifest = secret_manifest(name, namespace, ref["secretKey"], secret)
            self.run.run(
                kubectl(kube(current), "create", "-f", "-"), stdin=manifest, secret_stdin=True
            )
            current.details["created"]["secrets"].append(name)
            self._save(current)

    def _chart_repo(self, current: State) -> None:
        name, url = prereqs.CHART_REPO
        if self._known_repos().get(name) == url:
            # The pinned chart version may be newer than the user's cached index.
            self.run.run(["helm", "repo", "update", name], timeout=300)
        else:
            self._add_repo(current, name, url)

    def _install(self, profile: Profile, current: State) -> None:
        token = bool(os.environ.get(profile.model.hf_token_env))
        rendered = values.to_yaml(values.render(profile, self.name, hf_token=token))
        path = self.run.write(self.files_dir() / "values.yaml", rendered)
        current.details["values_file"] = str(path)
        current.details["created"]["release"] = True  # before helm: a half-made release goes too
        self._save(current)
        details = kube(current)
        self.run.run(
            [
                "helm",
                "upgrade",
                "--install",
                details.release,
                CHART,
                "--version",
                profile.kubernetes.chart_version,
                "-n",
                details.namespace,
                "-f",
                str(path),
                "--kube-context",
                details.context,
            ],
            timeout=900,
        )

    def _wait_ready(self, profile: Profile, current: State) -> list[str]:
        """Names of the engine pods, once the router and every engine pod are ready."""
        replicas = profile.engine.replicas
        if self.dry_run:
            say(
                f"[dry-run] wait up to {profile.kubernetes.ready_timeout} s for the router pod "
                f"and {replicas} engine pods to be ready"
            )
            return [f"ENGINE-POD-{i}" for i in range(replicas)]
        details = kube(current)
        engines = Group("engine", engine_selector(details), replicas)
        router = Group("router", router_selector(details), 1)
        kubeapi.wait_pods(
            self._api(current),
            details.namespace,
            [router, engines],
            profile.kubernetes.ready_timeout,
            self.clock,
            self.unschedulable_after,
        )
        return [readiness.name(pod) for pod in engines.ready]

    def _clean_after_failure(self, current: State) -> None:
        """A failed step or Ctrl-C: remove what this `up` created, keep nothing half up."""
        try:
            for line in self.down(current):
                say(f"🧹 {line}")
        except LabError as exc:
            bad(str(exc))

    # --- small helpers ----------------------------------------------------------------------

    def files_dir(self) -> Path:
        """Files the platform writes (values, kind config): beside the state file."""
        return paths.state_dir() / self.name

    def _asks_cluster(self, current: State) -> bool:
        """Is there a cluster worth asking? Not one a dry run only plans, and nothing the lab
        did not put there is in one this `up` just created."""
        return not self.planned_cluster and not kube(current).created["cluster"]

    def _api(self, current: State) -> Api:
        return self.api_factory(kube(current).context)

    def _exists(self, current: State, kind: str, name: str) -> bool:
        """Does this cluster-scoped object exist? (a query)"""
        argv = ["kubectl", "get", kind, name, "-o", "name", "--ignore-not-found"]
        argv += ["--context", kube(current).context]
        return bool(self.run.run(argv, query=True, check=False).stdout.strip())

    def _save(self, current: State) -> None:
        if not self.dry_run:
            state.save(current)

    def _known_repos(self) -> dict[str, str]:
        if self.repos is None:
            self.repos = prereqs.helm_repos(self.run)
        return self.repos

    def _add_repo(self, current: State, name: str, url: str) -> None:
        if self._known_repos().get(name) == url:
            return
        self.run.run(["helm", "repo", "add", name, url], timeout=300)
        current.details["created"].setdefault("helm_repos", []).append(name)
        self._save(current)


def images(profile: Profile) -> list[str]:
    """The stack's container images, as the rendered values name them."""
    return [
        f"{profile.engine.image}:{profile.engine.tag}",
        f"{profile.router.image}:{profile.router.tag}",
    ]


def secret_manifest(name: str, namespace: str, key: str, value: str) -> str:
    label_key, label_value = LAB_LABEL.split("=")
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": {label_key: label_value}},
            "type": "Opaque",
            "stringData": {key: value},
        }
    )
