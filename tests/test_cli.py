"""The command line as a user meets it: exit codes, stdout for data, stderr for errors."""

from __future__ import annotations

import subprocess
import sys

import yaml


def lab(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab", *args], capture_output=True, text=True, check=False, **kw
    )


def test_values_prints_yaml_on_stdout() -> None:
    done = lab("values", "--profile", "cpu", "--set", "router.routing=prefixaware")
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert rendered["routerSpec"]["routingLogic"] == "prefixaware"


def test_values_errors_go_to_stderr_with_exit_2(write) -> None:
    bad = write("bad.yaml", "name: p\nrouter: {routing: prefix}\nengine: {cpu: 1.5}\n")
    done = lab("values", "--profile", str(bad))
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"{bad}: engine.cpu: 1.5 is not of type 'integer'" in done.stderr
    assert f"{bad}: router.routing: 'prefix' is not one of" in done.stderr
    assert "Traceback" not in done.stderr


def test_values_check_accepts_a_rendered_file(write) -> None:
    rendered = lab("values", "--profile", "gpu").stdout
    done = lab("values", "--check", str(write("v.yaml", rendered)))
    assert done.returncode == 0, done.stderr


def test_values_check_names_file_and_path(write) -> None:
    path = write("v.yaml", "routerSpec:\n  routinglogic: session\n")
    done = lab("values", "--check", str(path))
    assert done.returncode == 2
    assert f"{path}: routerSpec.routinglogic: unknown key (did you mean 'routingLogic'?)" in (
        done.stderr
    )


def test_console_script_is_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from lab.cli import main; raise SystemExit(main(['--version']))"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "vllm-lab" in done.stdout


def test_no_command_prints_help_and_fails() -> None:
    done = lab()
    assert done.returncode == 2
    assert "values" in done.stdout
