"""The local platform's plan, without starting anything: commands, environment, refusals."""

from __future__ import annotations

import socket

import pytest

from lab.config import profile
from lab.errors import ConfigError
from lab.platforms import choose
from lab.platforms.local import platform as local
from tests.helpers.lab import lab_main


def load(*sets: str, name: str = "cpu") -> profile.Profile:
    return profile.load(name, list(sets))


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["engine.gpu=1"], "engine.gpu: the local platform runs vLLM CPU engines"),
        (["router.routing=kvaware"], "router.routing: 'kvaware' needs KV-cache events"),
        (["router.session_key=x-my-key"], "router.session_key: vllm-router keys sessions only"),
        (["lmcache.enabled=true"], "lmcache.enabled: LMCache needs GPU engines"),
        (["engine.tensor_parallel_size=2"], "engine.tensor_parallel_size: expected 1"),
        (["engine.api_key_env=LAB_UNSET_KEY_VAR"], "$LAB_UNSET_KEY_VAR is not set"),
    ],
)
def test_profiles_the_local_platform_cannot_serve_are_refused(sets, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        local.LocalPlatform().check(load(*sets))
    assert any(expected in problem for problem in exc.value.problems)


def test_the_default_profile_passes_the_check() -> None:
    local.LocalPlatform().check(load())


def test_platform_choice_policy(monkeypatch) -> None:
    monkeypatch.delenv("LAB_PLATFORM", raising=False)
    cpu = load()
    assert choose("compose", cpu)[0] == "compose"
    monkeypatch.setenv("LAB_PLATFORM", "minikube")
    assert choose(None, cpu) == ("minikube", "chosen by LAB_PLATFORM")
    monkeypatch.delenv("LAB_PLATFORM")
    assert choose(None, load("platform=existing"))[0] == "existing"
    monkeypatch.setattr("lab.platforms.docker_answers", lambda: False)
    assert choose(None, cpu)[0] == "local"
    monkeypatch.setattr("lab.platforms.docker_answers", lambda: True)
    monkeypatch.setattr("lab.platforms.shutil.which", lambda tool: f"/usr/bin/{tool}")
    name, why = choose(None, cpu)
    # auto builds a kind cluster on a workstation: it says so, why, and how to choose another.
    assert name == "kind"
    assert why.startswith("auto: Docker answers and kind, kubectl and helm are installed")
    assert "another with --platform NAME or LAB_PLATFORM=NAME (local, kind," in why
    with pytest.raises(ConfigError, match="'nowhere' is not a platform"):
        choose("nowhere", cpu)


def test_a_dry_run_resolves_the_model_as_up_would(tmp_path) -> None:
    """A local model that is not there is refused by `up --dry-run` as by `up`: exit 2."""
    done = lab_main(
        "up", "--dry-run", "--platform", "local", "--profile", "cpu",
        "--set", f"model.source={tmp_path}/no-such-model",
        state_dir=tmp_path / "state",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no-such-model is not a model folder" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state").exists()


def test_a_dry_run_needs_no_engine_extra(tmp_path, monkeypatch) -> None:
    """`up --dry-run` shows the plan in a Python with only `pip install -e .` (no vLLM, no
    vllm-router): the missing packages are said, not refused; `up` itself still refuses."""
    real_find_spec = local.importlib.util.find_spec

    def without_vllm(name: str, *args):
        return None if name == "vllm" else real_find_spec(name, *args)

    monkeypatch.setattr(local.importlib.util, "find_spec", without_vllm)
    monkeypatch.setattr(local, "router_binary", lambda: None)
    monkeypatch.delenv("LAB_PLATFORM", raising=False)
    monkeypatch.setattr("lab.platforms.docker_answers", lambda: False)
    done = lab_main("up", "--dry-run", "--profile", "cpu", state_dir=tmp_path / "state")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("🧭 platform: local (auto: ")
    assert "another with --platform NAME" in lines[0]
    assert "[dry-run] vLLM is not installed in this Python" in done.stdout
    assert "up would refuse until it is" in done.stdout
    assert "[dry-run] router: " in done.stdout
    refused = lab_main("up", "--profile", "cpu", state_dir=tmp_path / "state")
    assert refused.returncode == 2
    assert "error: vLLM is not installed in this Python" in refused.stderr


def test_a_dry_run_shows_the_ports_up_would_use(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LAB_STATE_DIR", str(tmp_path / "state"))
    platform = local.LocalPlatform(dry_run=True)
    first = platform.plan(load())
    with socket.socket() as held:
        held.bind(("127.0.0.1", first.ports["router"]))
        held.listen()
        again = platform.plan(load())
    said = capsys.readouterr().out
    assert again.ports["router"] != first.ports["router"]
    # (said of the default port: earlier tests may have left it, or others, in TIME_WAIT)
    assert f"is taken: router uses {again.ports['router']} instead" in said
    assert f"--port {again.ports['router']}" in said
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("platform", ["compose", "kind", "existing"])
def test_simulated_engines_are_refused_off_the_local_platform(tmp_path, platform: str) -> None:
    done = lab_main(
        "up", "--dry-run", "--platform", platform, "--profile", "cpu",
        "--set", "engine.simulated={tpot_ms: 5}", state_dir=tmp_path / "state",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "engine.simulated: simulated engines run on the local platform only" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("platform", "sets", "refused"),
    [
        ("local", ["router.policy.prefix_min_match_length=256"], "prefix_min_match_length"),
        ("compose", ["router.policy.balance_abs_threshold=2"], "balance_abs_threshold"),
        (
            "compose",
            ["router.implementation=vllm-router", "router.policy.prefix_min_match_length=256"],
            "prefix_min_match_length",
        ),
        ("kind", ["router.policy.cache_threshold=0.5"], "cache_threshold"),
    ],
)
def test_a_policy_setting_the_platforms_router_lacks_is_refused(
    tmp_path, platform: str, sets: list[str], refused: str
) -> None:
    args = [arg for assignment in sets for arg in ("--set", assignment)]
    done = lab_main(
        "up", "--dry-run", "--platform", platform, "--profile", "cpu", *args,
        state_dir=tmp_path / "state",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"router.policy.{refused}:" in done.stderr
    assert f"which the {platform} platform runs, has no such setting" in done.stderr
    assert "Traceback" not in done.stderr
