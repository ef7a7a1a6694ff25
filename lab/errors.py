"""The one user-facing error type, caught once at the CLI edge (see lab.cli.main)."""

from __future__ import annotations


class LabError(Exception):
    """A failure the user can act on: printed as one message, no traceback."""

    exit_code = 1


MAX_SHOWN = 50  # problems listed before the rest is only counted


class ConfigError(LabError):
    """Unusable input (profile, values, --set, state or results folder): nothing was started or
    written."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def shown(self) -> list[str]:
        """The problems to print: the first MAX_SHOWN, then how many more there are."""
        rest = len(self.problems) - MAX_SHOWN
        if rest <= 0:
            return self.problems
        return [*self.problems[:MAX_SHOWN], f"… and {rest} more problems (fix these first)"]


class StepFailed(LabError):
    """A step of the lab ran and failed (an engine did not start, a check did not pass)."""

    exit_code = 1
