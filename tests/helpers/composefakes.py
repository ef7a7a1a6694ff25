"""A fake `docker` and `docker-compose` for the Compose platform's tests: one Python script
under both names, first and alone on PATH. Each call is logged (JSON lines); the script keeps
the fake project's containers in a JSON file, as Compose would: `up` creates them healthy,
`kill` and `stop` end them, `down` removes them (and, with --volumes, the volumes).

Switches (environment): FAKE_NO_DAEMON (docker version fails as with no daemon),
FAKE_COMPOSE_V2 (`docker compose` answers), FAKE_EXITS=SERVICE (that container exits as it
starts), FAKE_IMAGES=a,b (images present; `all` for every one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SCRIPT = r"""#!{python}
import json, os, sys
from pathlib import Path

tool = Path(sys.argv[0]).name
args = sys.argv[1:]
home = Path(os.environ["FAKE_DIR"])
with (home / "log.jsonl").open("a") as log:
    log.write(json.dumps([tool, *args]) + "\n")
state_file = home / "containers.json"
empty = {{"containers": {{}}, "volumes": []}}
state = json.loads(state_file.read_text()) if state_file.exists() else empty

def save():
    state_file.write_text(json.dumps(state))

def done(out="", rc=0, err=""):
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.exit(rc)

if tool == "docker" and args[:1] == ["compose"]:
    if os.environ.get("FAKE_COMPOSE_V2"):
        tool, args = "docker-compose", args[1:]
    else:
        done(rc=1, err="docker: 'compose' is not a docker command.\n")

if tool == "docker-compose":
    while args and args[0] in ("--project-name", "--file"):
        args = args[2:]
    verb, rest = args[0], [a for a in args[1:] if not a.startswith("-")]
    if verb == "version":
        done("2.24.0\n" if os.environ.get("FAKE_COMPOSE_V2") else "1.29.2\n")
    if verb == "up":
        for service in rest:
            exits = service == os.environ.get("FAKE_EXITS")
            state["containers"][service] = {{
                "id": "c0ffee" + service, "state": "exited" if exits else "running",
                "status": "Exited (1) 1 second ago" if exits else "Up 2 seconds (healthy)",
            }}
        for volume in ("engine-cache", "prometheus-data"):
            if f"vllm-lab_{{volume}}" not in state["volumes"]:
                state["volumes"].append(f"vllm-lab_{{volume}}")
        save()
        done()
    if verb == "start":
        for service in rest:
            state["containers"][service].update(state="running", status="Up 1 second (healthy)")
        save()
        done()
    if verb == "down":
        lines = [f"Removing vllm-lab_{{s}}_1 ... " for s in state["containers"]]
        lines += [f"Removing vllm-lab_{{s}}_1 ... done" for s in state["containers"]]
        lines.append("Removing network vllm-lab_default")
        if "--volumes" in args:
            lines += [f"Removing volume {{v}}" for v in state["volumes"]]
            state["volumes"] = []
        state["containers"] = {{}}
        save()
        done(err="\n".join(lines) + "\n")
    done()

verb = args[0] if args else ""
if verb == "version":
    if os.environ.get("FAKE_NO_DAEMON"):
        done(rc=1, err="Cannot connect to the Docker daemon at unix:///fake.sock. "
             "Is the docker daemon running?\n")
    done("20.10.24\n")
if verb == "ps":
    rows = [
        "\t".join([c["id"], f"vllm-lab_{{s}}_1", c["state"], c["status"], s])
        for s, c in state["containers"].items()
    ]
    done("".join(row + "\n" for row in rows))
if verb in ("kill", "stop", "rm"):
    for service, c in list(state["containers"].items()):
        if c["id"] in args:
            if verb == "rm":
                del state["containers"][service]
            else:
                c.update(state="exited", status="Exited (137) 1 second ago")
    save()
    done()
if verb == "image" and args[1] == "inspect":
    present = os.environ.get("FAKE_IMAGES", "all").split(",")
    done(rc=0 if "all" in present or args[2] in present else 1)
if verb == "pull":
    done(rc=1, err="Error response from daemon: pull access denied\n")
if verb == "logs":
    done("engine log line 1\nengine log line 2\n")
if verb == "volume" and args[1] == "ls":
    done("".join(v + "\n" for v in state["volumes"]))
done()
"""


def install(folder: Path) -> Path:
    """Write the fake as `docker` and `docker-compose` into `folder` (PATH should be it)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "docker"
    script.write_text(SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    (folder / "docker-compose").symlink_to(script)
    return folder


def calls(folder: Path) -> list[list[str]]:
    log = folder / "log.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def changes(folder: Path) -> list[list[str]]:
    """The calls that change something: not a version, ps, logs, image or volume listing."""
    return [call for call in calls(folder) if not is_query(call)]


def is_query(call: list[str]) -> bool:
    tool, args = call[0], call[1:]
    if tool == "docker-compose" or args[:1] == ["compose"]:
        return "version" in args or "config" in args
    return args[:1] in (["version"], ["ps"], ["logs"]) or args[:2] in (
        ["image", "inspect"],
        ["volume", "ls"],
    )


def activate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fakes installed under tmp_path, alone on PATH for the test; returns their folder."""
    folder = install(tmp_path / "fakes")
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setenv("FAKE_DIR", str(folder))
    return folder
