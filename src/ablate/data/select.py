"""Training subsets: one shuffle of the pool per seed, and every size is a prefix of it.

So for one seed the 2K subset is inside the 4K subset (LIMA section 5: nested subsets, only the
amount changes between points), and all arms share the seed's randomness.
"""

from __future__ import annotations

import random
from typing import TypeVar

from ablate.errors import UserError

T = TypeVar("T")


def shuffled_order(pool_size: int, seed: int) -> list[int]:
    order = list(range(pool_size))
    random.Random(seed).shuffle(order)
    return order


def nested_subset(records: list[T], n: int, seed: int, pool_name: str) -> list[T]:
    if n > len(records):
        raise UserError(
            f"pool '{pool_name}' has {len(records)} records, fewer than the sweep size {n}: "
            "lower sweep.sizes or use a larger pool."
        )
    return [records[i] for i in shuffled_order(len(records), seed)[:n]]
