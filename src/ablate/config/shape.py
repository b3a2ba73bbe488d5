"""Shape checks that run before OmegaConf sees a value: a list where a mapping belongs (or a
mapping where a list or a single value belongs) is reported at its dotted path.

OmegaConf's merge raises a bare TypeError ("Cannot merge incompatible container types") for
these, with no path; walking the schema's type hints first turns each into one readable line.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from ablate.config.schema import Config

MAPPING, LIST, VALUE = "a mapping (key: value pairs)", "a list", "a single value"


def _unwrap_optional(hint: Any) -> Any:
    """X | None -> X: None is a value OmegaConf checks itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def kind_of_hint(hint: Any) -> str:
    hint = _unwrap_optional(hint)
    if dataclasses.is_dataclass(hint) or typing.get_origin(hint) is dict:
        return MAPPING
    if typing.get_origin(hint) is list:
        return LIST
    return VALUE


def kind_of_value(value: Any) -> str | None:
    """What a YAML value is; None for null, which fits any optional setting."""
    if value is None:
        return None
    if isinstance(value, dict):
        return MAPPING
    return LIST if isinstance(value, list) else VALUE


def _child_hint(hint: Any, key: str) -> Any | None:
    """The type of `key` inside a mapping of type `hint`; None for an unknown key."""
    hint = _unwrap_optional(hint)
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hints.get(key)
    if typing.get_origin(hint) is dict:
        return typing.get_args(hint)[1]
    return None


def shape_problem(path: tuple[str, ...], value: Any) -> str | None:
    """'dotted.path: expected X, got Y' when the leaf at `path` has the wrong shape, else None.

    Unknown keys are left to OmegaConf, which suggests the closest known key."""
    hint: Any = Config
    for depth, key in enumerate(path):
        if hint is Any:
            return None  # free-form (an arm's overrides): checked once resolved
        if kind_of_hint(hint) != MAPPING:
            where = ".".join(path[:depth])
            return f"{where}: expected {kind_of_hint(hint)}, got a mapping"
        hint = _child_hint(hint, key)
        if hint is None:
            return None
    if hint is Any:
        return None
    expected, got = kind_of_hint(hint), kind_of_value(value)
    where = ".".join(path)
    if got is not None and got != expected:
        return f"{where}: expected {expected}, got {got} {_shown(value)}"
    if got == LIST:
        return _item_problem(where, _unwrap_optional(hint), value)
    return None


def _shown(value: Any) -> str:
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."


def _item_problem(where: str, hint: Any, items: list[Any]) -> str | None:
    """A list's items must be single values where the list holds values ([[8]] is not a size);
    OmegaConf lets nested containers into a list of ints or strings."""
    args = typing.get_args(hint)
    item_kind = kind_of_hint(args[0]) if args else VALUE
    for index, item in enumerate(items):
        got = kind_of_value(item)
        if got is not None and got != item_kind:
            return f"{where}[{index}]: expected {item_kind}, got {got} {_shown(item)}"
    return None
