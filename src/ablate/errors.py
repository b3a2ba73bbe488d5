"""The one exception type for expected user errors (CONTRIBUTING.md, principle 7).

The CLI prints its message and exits with code 2; anything else that escapes is a bug and
keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input the user can fix: the message names the file, field or URL and what to do."""


class ConfigError(UserError):
    """Every problem of one config at once, each with its dotted path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the config:\n{lines}")
