"""A judge's chat prompt: a versioned template with named fields, rendered into messages.
Below the modes (each builds its own) and the template files users write (templates.py)."""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class JudgeTemplate:
    mode: str  # likert | pairwise | absolute
    version: str  # part of the cache key
    system: str | None  # sent as is (no fields): braces need no escaping there
    user: str  # str.format-style with named fields

    def render(self, **fields: str) -> list[dict[str, str]]:
        """Chat messages; fields the text does not use are ignored."""
        missing = [name for name in template_fields(self.user) if name not in fields]
        if missing:
            raise ValueError(f"judge template {self.version!r} needs field(s) {', '.join(missing)}")
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": self.user.format(**fields)})
        return messages


def template_fields(text: str) -> list[str]:
    """The field names a str.format text uses, in order of first use."""
    names: list[str] = []
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None and name not in names:
            names.append(name)
    return names


SYSTEM = "You are a careful, impartial grader of answers written by AI assistants."
