"""Training subsets drawn from several pools in fixed proportions, nested across sizes.

The allocation is sequential: example k (k = 1, 2, ...) comes from the pool furthest below its
share, the one with the largest weight * k - taken so far (ties to the pool named first). So
each pool's count stays within one of n * weight, and the subset of n examples is a prefix of
the subset of any larger n (only the amount changes between sizes, as with one pool). Within a
pool the examples are that pool's own seeded shuffle, the one a single-pool arm of the same
seed draws from: arms that share a pool share its randomness.
"""

from __future__ import annotations

from typing import TypeVar

from ablate.config.arms import allocation, counts
from ablate.data.select import shuffled_order
from ablate.errors import UserError

T = TypeVar("T")


def mixed_subset(
    records: dict[str, list[T]], weights: dict[str, float], n: int, seed: int
) -> list[T]:
    """n examples in allocation order, each pool's taken from its own shuffle for `seed`."""
    needed = counts(weights, n)
    for pool, count in needed.items():
        if count > len(records[pool]):
            raise UserError(
                f"pool '{pool}' has {len(records[pool])} records, fewer than the {count} its "
                f"weight {weights[pool]:g} takes at size {n}: lower sweep.sizes or use a larger "
                "pool."
            )
    orders = {pool: shuffled_order(len(records[pool]), seed) for pool in needed}
    next_index = dict.fromkeys(needed, 0)
    subset = []
    for pool in allocation(weights, n):
        subset.append(records[pool][orders[pool][next_index[pool]]])
        next_index[pool] += 1
    return subset
