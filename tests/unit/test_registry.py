"""Behaviour of plain-name registries and their "did you mean" suggestions."""

from __future__ import annotations

import pytest

from ablate.data.sources import POOL_SOURCES
from ablate.judge.backends import JUDGE_BACKENDS
from ablate.registry import Registry, suggest


def test_suggest_gives_the_close_match() -> None:
    assert suggest("lorra", ["full", "lora"]) == " Did you mean 'lora'?"
    assert suggest("synthtic", ["jsonl", "synthetic"]) == " Did you mean 'synthetic'?"


def test_suggest_gives_nothing_when_no_name_is_close() -> None:
    assert suggest("openai", ["hf"]) == ""
    assert suggest("anything", []) == ""


def make_registry() -> Registry[int]:
    registry: Registry[int] = Registry("widget")
    registry.register("gamma")(3)
    registry.register("alpha")(1)
    return registry


def test_register_returns_the_entry_so_it_works_as_a_decorator() -> None:
    registry: Registry[object] = Registry("thing")

    @registry.register("f")
    def f() -> int:
        return 1

    assert f() == 1
    assert registry.get("f") is f


def test_names_are_sorted() -> None:
    assert make_registry().names() == ["alpha", "gamma"]


def test_problem_is_none_for_a_known_name() -> None:
    assert make_registry().problem("alpha") is None


def test_problem_names_the_kind_the_name_and_all_known_names() -> None:
    problem = make_registry().problem("alpah")
    assert problem is not None
    assert "widget" in problem and "'alpah'" in problem
    assert "alpha" in problem and "gamma" in problem
    assert "Did you mean 'alpha'?" in problem


def test_problem_without_a_close_name_has_no_suggestion() -> None:
    problem = make_registry().problem("zzz")
    assert problem is not None
    assert "alpha, gamma" in problem
    assert "Did you mean" not in problem


def test_get_returns_the_entry_or_raises_with_the_problem() -> None:
    registry = make_registry()
    assert registry.get("gamma") == 3
    with pytest.raises(KeyError, match="unknown widget 'gama'"):
        registry.get("gama")


def test_project_registries_know_their_plain_names() -> None:
    assert {"synthetic", "jsonl"} <= set(POOL_SOURCES.names())
    assert "hf" in JUDGE_BACKENDS.names()
