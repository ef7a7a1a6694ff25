"""vLLM Stack Lab: bring up the vLLM Production Stack, check it, load it, compare runs."""

__version__ = "0.1.0"
