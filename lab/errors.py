"""The one user-facing error type, caught once at the CLI edge (see lab.cli.main)."""

from __future__ import annotations


class LabError(Exception):
    """A failure the user can act on: printed as one message, no traceback."""

    exit_code = 1


class ConfigError(LabError):
    """Unusable input (profile, values, --set, results folder): nothing was started or written."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class StepFailed(LabError):
    """A step of the lab ran and failed (an engine did not start, a check did not pass)."""

    exit_code = 1
