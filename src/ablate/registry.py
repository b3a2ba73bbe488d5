"""Plain-name registries with "did you mean" suggestions (CONTRIBUTING.md, principle 8)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def suggest(name: str, choices: list[str]) -> str:
    """A ' Did you mean ...?' hint for a mistyped name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            self._entries[name] = entry
            return entry

        return add

    def names(self) -> list[str]:
        return sorted(self._entries)

    def problem(self, name: str) -> str | None:
        """Why `name` is not registered, or None when it is."""
        if name in self._entries:
            return None
        known = ", ".join(self.names())
        return f"unknown {self.kind} '{name}' (known: {known}).{suggest(name, self.names())}"

    def get(self, name: str) -> T:
        problem = self.problem(name)
        if problem is not None:
            raise KeyError(problem)
        return self._entries[name]
