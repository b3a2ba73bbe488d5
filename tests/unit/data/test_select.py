"""Behaviour of training-subset selection: nested, seeded, deterministic."""

from __future__ import annotations

import itertools

import pytest

from ablate.data.select import nested_subset, shuffled_order
from ablate.errors import UserError

POOL = [{"id": str(i), "prompt": f"q{i}"} for i in range(500)]


def ids(records: list[dict[str, str]]) -> list[str]:
    return [r["id"] for r in records]


@pytest.mark.parametrize("seed", [0, 1, 17])
def test_smaller_subset_is_a_prefix_of_the_larger(seed: int) -> None:
    sizes = [10, 50, 200, 500]
    subsets = [nested_subset(POOL, n, seed, "pool") for n in sizes]
    for n, subset in zip(sizes, subsets, strict=True):
        assert len(subset) == n
        assert len(set(ids(subset))) == n  # no record twice
    for smaller, larger in itertools.pairwise(subsets):
        assert larger[: len(smaller)] == smaller


def test_whole_pool_is_a_permutation() -> None:
    subset = nested_subset(POOL, len(POOL), 3, "pool")
    assert sorted(ids(subset), key=int) == ids(POOL)
    assert subset != POOL  # actually shuffled


def test_different_seeds_give_different_subsets() -> None:
    a = nested_subset(POOL, 50, 0, "pool")
    b = nested_subset(POOL, 50, 1, "pool")
    assert ids(a) != ids(b)
    assert set(ids(a)) != set(ids(b))


def test_same_seed_gives_the_same_subset() -> None:
    assert nested_subset(POOL, 64, 5, "pool") == nested_subset(list(POOL), 64, 5, "pool")


def test_selection_does_not_depend_on_the_other_sizes_of_the_sweep() -> None:
    # Computing 64 alone, or after 16 and 256, gives the same records.
    alone = nested_subset(POOL, 64, 2, "pool")
    for n in (16, 256, 500):
        nested_subset(POOL, n, 2, "pool")
    assert nested_subset(POOL, 64, 2, "pool") == alone


def test_selection_does_not_depend_on_the_pool_name() -> None:
    assert nested_subset(POOL, 30, 4, "a") == nested_subset(POOL, 30, 4, "b")


def test_known_order_for_a_fixed_seed() -> None:
    # Pinned: a change here changes every subset ever selected (bump the select stage's
    # version in ablate.stages).
    assert shuffled_order(10, 0) == [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]


def test_size_larger_than_pool_is_a_user_error_naming_the_pool() -> None:
    with pytest.raises(UserError) as info:
        nested_subset(POOL[:20], 21, 0, "wikihow")
    message = str(info.value)
    assert "'wikihow'" in message
    assert "20" in message and "21" in message


def test_size_equal_to_pool_is_fine() -> None:
    assert len(nested_subset(POOL[:20], 20, 0, "small")) == 20
