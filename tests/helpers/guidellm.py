"""GuideLLM, installed from PyPI into a virtual environment of its own, kept in the lab's cache
between runs. Never into the lab's: GuideLLM 0.8.1 would change packages vLLM uses there
(click, datasets, pandas, pyarrow among 28). Its torch is the build the tests' own environment
holds (the CPU one noxfile.py installs, from LAB_TORCH_INDEX), which keeps the environment at
1.5 GB rather than 6 GB of CUDA wheels."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from lab.paths import cache_dir

VERSION = "0.8.1"
TORCH_INDEX = os.environ.get("LAB_TORCH_INDEX", "https://download.pytorch.org/whl/cpu")


def python() -> Path:
    """The Python of GuideLLM's environment, made on first use (a few minutes: torch)."""
    home = cache_dir() / f"guidellm-{VERSION}"
    interpreter = home / "bin" / "python"
    done = home / ".installed"  # written last: an install cut short is made again
    if not done.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True)
        index = ["--extra-index-url", TORCH_INDEX] if TORCH_INDEX else []
        pip = [str(interpreter), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--no-deps", *index, f"torch=={version('torch')}"], check=True)
        subprocess.run([*pip, f"guidellm=={VERSION}"], check=True)
        done.write_text(VERSION + "\n")
    return interpreter
