"""One error hierarchy; each subclass carries the exit code ``main`` returns for it."""

from __future__ import annotations


class PreflightError(Exception):
    """Base error: ``main`` prints ``str(error)`` on one line and exits with ``exit_code``."""

    exit_code = 1


class UsageError(PreflightError):
    """Bad flags or arguments."""

    exit_code = 2


class InputError(PreflightError):
    """A file we read is missing, malformed or violates its schema."""

    exit_code = 2


class SchemaError(InputError):
    """A document failed its JSON Schema; ``problems`` lists every ``pointer: message``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        shown = "; ".join(problems[:10])
        more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"{source}: {shown}{more}")


class PolicyViolation(InputError):
    """A value is outside the bounds a policy file allows."""
