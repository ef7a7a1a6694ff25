"""Fakes for the Kubernetes platforms: executables that record and answer as told, and a tiny
HTTP server speaking the few Kubernetes API paths the lab reads.

The fake `kind`, `minikube`, `helm`, `kubectl`, `docker` and `nvidia-smi` are one shell
script under six names, first (and alone) on PATH. Each call logs its arguments, keeps what
it was handed (stdin of `-f -`, a copy of the `-f`/`--config` file at call time), then
answers with the first rule matching its tool and leading arguments. `kubectl port-forward`
serves HTTP on its local port until it is stopped, as the real one listens.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers.lab import claim_block

TOOLS = ("kind", "minikube", "helm", "kubectl", "docker", "nvidia-smi")

US, RS = "\x1f", "\x1e"  # separators of arguments, and of a rule's fields

# POSIX sh, not Python: a Python start costs ~80 ms here and an `up` makes dozens of calls.
SCRIPT = r"""#!/bin/sh
US=$(printf '\037'); RS=$(printf '\036')
tool=${0##*/}; id=$$; line="$id$US$tool"; joined="$tool"; prev=""
for a in "$@"; do
  line="$line$US$a"; joined="$joined$US$a"
  if [ "$prev" = "-f" ] || [ "$prev" = "--config" ]; then
    if [ "$a" = "-" ]; then {cat} > "$FAKE_DIR/$id.stdin"
    elif [ -f "$a" ]; then {cp} "$a" "$FAKE_DIR/$id.file"; printf '%s' "$a" > "$FAKE_DIR/$id.path"
    fi
  fi
  prev=$a
done
printf '%s\n' "$line" >> "$FAKE_LOG"
while IFS="$RS" read -r prefix rc out err; do
  case "$joined$US" in
    "$prefix$US"*) {cat} "$out"; {cat} "$err" >&2; exit "$rc" ;;
  esac
done < "$FAKE_ANSWERS"
if [ "$tool" = kubectl ] && [ "$1" = port-forward ]; then
  exec "{python}" "$FAKE_DIR/listen.py" "$3"
fi
exit 0
"""

# What `kubectl port-forward LOCAL:REMOTE` does for the lab: listen on LOCAL, answer HTTP
# (the model list and an empty metrics page as a chart's engine or router would; else "ok").
LISTEN = """import http.server, sys
ANSWERS = {"/v1/models": b'{"data": [{"id": "tiny-llama"}]}', "/metrics": b""}
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(ANSWERS.get(self.path, b"ok"))
    def log_message(self, *args):
        pass
local = int(sys.argv[1].split(":")[0])
http.server.HTTPServer(("127.0.0.1", local), Answer).serve_forever()
"""

# Read-only calls: everything else a tool is asked to do changes something.
QUERIES = {
    "kubectl": (["version"], ["get"], ["config"]),
    "helm": (["version"], ["status"], ["repo", "list"]),
    "kind": (["version"], ["get"]),
    "minikube": (["version"], ["profile", "list"]),
    "docker": (["info"], ["image", "inspect"], ["inspect"], ["port"], ["network", "inspect"]),
    "nvidia-smi": ([],),
}


def is_query(record: dict[str, Any]) -> bool:
    args = record["argv"][1:]
    return any(args[: len(prefix)] == prefix for prefix in QUERIES.get(record["tool"], ()))


def is_port_forward(record: dict[str, Any]) -> bool:
    return record["argv"][:2] == ["kubectl", "port-forward"]


def default_rules(api_port: int) -> list[dict[str, Any]]:
    """Answers of a machine with every tool, a daemon, no cluster and no Helm repo yet."""
    return [
        rule("kubectl", ["version"], '{"clientVersion": {"gitVersion": "v1.32.4"}}'),
        rule("kubectl", ["config", "current-context"], "prod-cluster\n"),
        rule("kubectl", ["get", "--raw", "/version"], '{"gitVersion": "v1.30.2"}'),
        rule("kubectl", ["get", "nodes"], json.dumps({"items": []})),
        rule("kubectl", ["get"], ""),  # nothing exists
        rule("helm", ["version"], "v3.16.2+g13654a5\n"),
        rule("helm", ["status"], "", rc=1, stderr="Error: release: not found\n"),
        rule("helm", ["repo", "list"], "", rc=1, stderr="Error: no repositories to show\n"),
        rule("kind", ["version"], "kind v0.24.0 go1.22.6 linux/amd64\n"),
        rule("kind", ["get", "clusters"], "", stderr="No kind clusters found.\n"),
        rule("minikube", ["version"], "v1.34.0\n"),
        rule("minikube", ["profile", "list"], '{"invalid": [], "valid": []}'),
        rule("docker", ["info"], json.dumps({"ServerVersion": "27.3.1", "Runtimes": {"runc": {}}})),
        rule("docker", ["image", "inspect"], "", rc=1, stderr="Error: No such image\n"),
        rule("docker", ["inspect"], "", rc=1, stderr="Error: No such object\n"),
        rule("docker", ["port"], f"127.0.0.1:{api_port}\n"),
        rule("nvidia-smi", ["-L"], "GPU 0: NVIDIA A10G (UUID: GPU-0000)\n"),
    ]


def rule(tool: str, args: list[str], stdout: str = "", rc: int = 0, stderr: str = "") -> dict:
    return {"tool": tool, "args": args, "stdout": stdout, "rc": rc, "stderr": stderr}


@dataclass
class Fakes:
    """The fake executables' folder, their log and their answers."""

    root: Path
    api_port: int
    rules: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True)
        self.log = self.root / "calls.log"
        self.log.touch()
        self.answers = self.root / "answers"
        (self.root / "listen.py").write_text(LISTEN)
        # PATH holds only the fakes: the script names the few programs it uses in full.
        script = SCRIPT.replace("{python}", sys.executable)
        for program in ("cat", "cp"):
            script = script.replace("{" + program + "}", shutil.which(program) or program)
        for tool in TOOLS:
            path = self.bin / tool
            path.write_text(script)
            path.chmod(0o755)
        self.save()

    def environment(self) -> dict[str, str]:
        return {
            "PATH": str(self.bin),
            "FAKE_DIR": str(self.root),
            "FAKE_LOG": str(self.log),
            "FAKE_ANSWERS": str(self.answers),
        }

    def answer(self, tool: str, args: list[str], stdout: str = "", rc: int = 0, stderr: str = ""):
        """A rule that wins over the defaults (and over earlier answers)."""
        self.rules.insert(0, rule(tool, args, stdout, rc, stderr))
        self.save()

    def remove(self, tool: str) -> None:
        (self.bin / tool).unlink()

    def save(self) -> None:
        lines = []
        for number, item in enumerate(self.rules + default_rules(self.api_port)):
            out, err = self.root / f"answer-{number}.out", self.root / f"answer-{number}.err"
            out.write_text(item["stdout"])
            err.write_text(item["stderr"])
            prefix = US.join([item["tool"], *item["args"]])
            lines.append(RS.join([prefix, str(item["rc"]), str(out), str(err)]) + "\n")
        self.answers.write_text("".join(lines))

    def calls(self) -> list[dict[str, Any]]:
        """Every call so far: {tool, argv, stdin?, files?} in the order they were made."""
        found = []
        for line in self.log.read_text().splitlines():
            number, tool, *args = line.split(US)
            record: dict[str, Any] = {"tool": tool, "argv": [tool, *args]}
            stdin = self.root / f"{number}.stdin"
            if stdin.exists():
                record["stdin"] = stdin.read_text()
            if (self.root / f"{number}.path").exists():
                path = (self.root / f"{number}.path").read_text()
                record["files"] = {path: (self.root / f"{number}.file").read_text()}
            found.append(record)
        return found

    def changes(self) -> list[str]:
        """Mutating calls, as command lines (port-forwards aside)."""
        return [
            " ".join(c["argv"]) for c in self.calls() if not is_query(c) and not is_port_forward(c)
        ]

    def forwards(self) -> list[str]:
        return [" ".join(c["argv"]) for c in self.calls() if is_port_forward(c)]

    def clear(self) -> None:
        self.log.write_text("")


class FakeClock:
    """The readiness loops' clock: sleeping advances time at once, and counts polls."""

    def __init__(self) -> None:
        self.time = 0.0
        self.ticks = 0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds
        self.ticks += 1


class FakeApi:
    """Pods (a timeline: one list of pods per poll of the clock), logs and nodes over HTTP at
    /api/v1/..., and 200 at /health (the router, as kind's port mapping would reach it)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.timeline: list[list[dict[str, Any]]] = [[]]
        self.start = 0
        self.logs: dict[str, str] = {}
        self.nodes: list[dict[str, Any]] = []
        self.services: list[dict[str, Any]] = []
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(self.path)
                status, body, kind = api.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def show(self, *timeline: list[dict[str, Any]]) -> None:
        """From the next poll on, the pods are timeline[0], then [1], ... (the last stays)."""
        self.timeline = list(timeline)
        self.start = self.clock.ticks

    def pods_now(self) -> list[dict[str, Any]]:
        index = min(self.clock.ticks - self.start, len(self.timeline) - 1)
        return self.timeline[index]

    def answer(self, path: str) -> tuple[int, bytes, str]:
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")
        query = parse_qs(url.query)
        if url.path == "/health":
            return 200, b"ok", "text/plain"
        if url.path == "/api/v1/nodes":
            return 200, json.dumps({"items": self.nodes}).encode(), "application/json"
        if parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["services"]:
            wanted = _selector(query.get("labelSelector", [""])[0])
            items = [s for s in self.services if _matches(s, wanted)]
            body = {"kind": "ServiceList", "items": items}
            return 200, json.dumps(body).encode(), "application/json"
        if parts[:3] == ["api", "v1", "namespaces"] and parts[4:5] == ["pods"]:
            if len(parts) == 7 and parts[6] == "log":
                return 200, self.logs.get(parts[5], "").encode(), "text/plain"
            wanted = _selector(query.get("labelSelector", [""])[0])
            items = [p for p in self.pods_now() if _matches(p, wanted)]
            return 200, json.dumps({"kind": "PodList", "items": items}).encode(), "application/json"
        return 404, b"{}", "application/json"

    def close(self) -> None:
        self.server.shutdown()


def _selector(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if part)


def _matches(pod: dict[str, Any], wanted: dict[str, str]) -> bool:
    labels = pod["metadata"].get("labels", {})
    return all(labels.get(key) == value for key, value in wanted.items())


def kubeconfig(path: Path, port: int, contexts: Iterable[str]) -> Path:
    """A kubeconfig whose every context points at the fake API server."""
    path.write_text(kubeconfig_text(f"http://127.0.0.1:{port}", contexts))
    return path


def kubeconfig_text(server: str, contexts: Iterable[str]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": server}}],
            "users": [{"name": "fake", "user": {}}],
            "contexts": [
                {"name": name, "context": {"cluster": "fake", "user": "fake"}} for name in contexts
            ],
            "current-context": "prod-cluster",
        }
    )


def pod(
    name: str,
    component: str = "serving-engine",
    *,
    model: str = "tiny-llama",
    ready: bool = True,
    phase: str = "Running",
    waiting: tuple[str, str] | None = None,
    last: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    unschedulable: str | None = None,
    restarts: int = 0,
    limits: dict[str, str] | None = None,
    deleting: bool = False,
    image: str = "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.32.0",
) -> dict[str, Any]:
    """A pod as the API returns it, shaped like the chart's engine or router pods."""
    container = "vllm" if component == "serving-engine" else "router-container"
    labels = {
        "app.kubernetes.io/instance": "vllm",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/name": model if component == "serving-engine" else "router",
    }
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if unschedulable:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": unschedulable,
            }
        )
    status: dict[str, Any] = {"phase": phase, "conditions": conditions}
    if not unschedulable:
        container_state = state or (
            {"waiting": {"reason": waiting[0], "message": waiting[1]}}
            if waiting
            else {"running": {}}
        )
        status["containerStatuses"] = [
            {
                "name": container,
                "image": image,
                "ready": ready,
                "restartCount": restarts,
                "state": container_state,
                "lastState": last or {},
            }
        ]
    metadata: dict[str, Any] = {"name": name, "namespace": "vllm-lab", "labels": labels}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    resources = {"limits": limits} if limits else {}
    spec = {"containers": [{"name": container, "image": image, "resources": resources}]}
    return {"metadata": metadata, "spec": spec, "status": status}


def router_service(release: str = "vllm", port: int = 80) -> dict[str, Any]:
    """The chart's router Service, with its standard labels."""
    labels = {
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/component": "router",
        "app.kubernetes.io/name": "router",
    }
    metadata = {"name": f"{release}-router-service", "namespace": "vllm-lab", "labels": labels}
    return {"metadata": metadata, "spec": {"ports": [{"name": "router-sport", "port": port}]}}


# --- one test's machine ----------------------------------------------------------------------

CONTEXTS = ("kind-vllm-lab", "vllm-lab", "prod-cluster")


class Lab:
    """One test's machine: fakes alone on PATH, a fake API, state and cache in tmp folders,
    loopback ports far from the conventional ones (others use those on this machine)."""

    def __init__(self, tmp: Path, monkeypatch: Any) -> None:
        from lab.config import model

        self.tmp = tmp
        self.clock = FakeClock()
        self.api = FakeApi(self.clock)
        self.fakes = Fakes(tmp / "fakes", self.api.port)
        self.state_dir = tmp / "state"
        self.cache = tmp / "cache"
        for variable, value in self.fakes.environment().items():
            monkeypatch.setenv(variable, value)
        monkeypatch.setenv("LAB_STATE_DIR", str(self.state_dir))
        monkeypatch.setenv("LAB_CACHE_DIR", str(self.cache))
        config = kubeconfig(tmp / "kubeconfig", self.api.port, CONTEXTS)
        monkeypatch.setenv("KUBECONFIG", str(config))
        for variable in ("HF_TOKEN", "LAB_KUBE_CONTEXT", "LAB_KIND_REGISTRY_MIRROR"):
            monkeypatch.delenv(variable, raising=False)
        # lab:tiny-llama counts as made (its recipe marker), so no test makes a model.
        tiny = model.tiny_dir()
        tiny.mkdir(parents=True)
        (tiny / model.RECIPE_FILE).write_text(model.RECIPE + "\n")
        # A block of ports of its own: no other test's at once, none lingering in TIME_WAIT.
        base, self._block = claim_block(used=60)
        self.ports = {"router": base + 10, "engine": base + 20, "grafana": base + 40}
        self.ports["prometheus"] = base + 50

    def platform(self, name: str, dry_run: bool = False) -> Any:
        from lab.platforms.kube.api import Clock
        from lab.platforms.kube.existing import ExistingPlatform
        from lab.platforms.kube.kind import KindPlatform
        from lab.platforms.kube.minikube import MinikubePlatform

        known = {"kind": KindPlatform, "minikube": MinikubePlatform, "existing": ExistingPlatform}
        clock = Clock(poll=1.0, now=self.clock.now, sleep=self.clock.sleep)
        return known[name](dry_run, clock=clock, ports=self.ports, router_timeout=5)

    def ready_stack(self, engines: int = 2, model_name: str = "tiny-llama") -> list[str]:
        """The API shows a ready router and `engines` ready engine pods; their names."""
        names = [f"vllm-{model_name}-deployment-vllm-7d9f-{i}" for i in range(engines)]
        self.api.show(
            [pod("vllm-deployment-router-5c8-x", "router", image="lmcache/lmstack-router:latest")]
            + [pod(name, model=model_name) for name in names]
        )
        return names

    def up(self, name: str, lab: Any) -> Any:
        platform = self.platform(name)
        platform.check(lab)
        current = platform.up(lab)
        assert current is not None
        return current

    def close(self) -> None:
        """Stop what a test left running (port-forwards), and the fake API."""
        from lab.stack import processes, state

        current = state.load()
        for proc in current.processes if current else []:
            processes.stop(proc, grace=1)
        self.api.close()
        self._block.close()


def machine(tmp: Path, monkeypatch: Any) -> Iterator[Lab]:
    """Body of a `lab` fixture: a Lab, closed afterwards."""
    lab = Lab(tmp, monkeypatch)
    yield lab
    lab.close()
