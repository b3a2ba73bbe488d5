"""Arms as the sweep plans them (pure): each arm's data (one pool, or a mixture of pools with
weights), its overrides of any result-relevant setting, crossed with the sweep's grid.

    sweep:
      arms:
        filtered: {pool: se_filtered}                                  # one pool
        mixed: {data: {mixture: {se_filtered: 0.5, wikihow: 0.5}}}     # a mixture
        fast: {pool: se_filtered, overrides: {training.learning_rate: 3.0e-5}}
      grid: {training.epochs: [3, 15]}                                  # crossed with the arms

A variant is one arm at one grid point: `fast` at epochs 3 is the variant `fast-epochs_3`.
An arm may vary the model, the training and the generation; the judge, the evaluation prompts
and everything else stay the sweep's, so that arms are compared on the same footing.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from omegaconf import OmegaConf

from ablate.config.schema import ArmConfig, Config

# The sections an arm (or the grid) may change: what the model is, how it is trained, how it
# samples. Anything else would make arms incomparable (another judge, other prompts).
ARM_SECTIONS = ("model", "training", "generation")


@dataclass(frozen=True)
class Variant:
    """One arm at one grid point, with its resolved settings."""

    name: str  # the arm's name, with its grid point when there is a grid
    arm: str  # the sweep's arm it comes from
    data: dict[str, float]  # pool -> weight (weights sum to 1; one pool has weight 1)
    overrides: dict[str, Any]  # dotted setting -> value: the arm's own, then the grid point's
    grid: dict[str, Any] = field(default_factory=dict)  # the grid point alone

    @property
    def family(self) -> str:
        """Variants comparable with each other: those at the same grid point."""
        return grid_label(self.grid)

    @property
    def pool_label(self) -> str:
        if len(self.data) == 1:
            return next(iter(self.data))
        return "+".join(f"{pool}:{weight:g}" for pool, weight in self.data.items())


def flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested {training: {learning_rate: x}} and dotted {training.learning_rate: x} alike."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def arm_data(arm: ArmConfig) -> dict[str, float]:
    """pool -> weight, normalised; {} when the arm names no data (a config problem)."""
    if arm.data.mixture:
        total = sum(float(w) for w in arm.data.mixture.values())
        if total <= 0:
            return {}
        return {pool: float(w) / total for pool, w in sorted(arm.data.mixture.items())}
    pool = arm.data.pool or arm.pool
    return {pool: 1.0} if pool else {}


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", f"{value:g}" if isinstance(value, float) else str(value))


def grid_label(point: dict[str, Any]) -> str:
    """epochs_3-learning_rate_3e-05: folder-safe, readable, and the same for equal points."""
    return "-".join(f"{key.split('.')[-1]}_{_slug(value)}" for key, value in sorted(point.items()))


def grid_points(config: Config) -> list[dict[str, Any]]:
    grid = flat(dict(config.sweep.grid))
    keys = list(grid)
    # A value that is not a list is refused by validation; here it counts as one value.
    lists = [v if isinstance(v, list) else [v] for v in grid.values()]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*lists)]


def search_base(config: Config) -> Variant:
    """A search's starting point: its one arm (its data and settings), the mixture's pools
    (equal weights here; each configuration draws its own) in place of the arm's data."""
    assert config.search is not None
    name, arm = next(iter(config.sweep.arms.items()), ("mix", ArmConfig()))
    own = flat(dict(arm.overrides))
    pools = list(config.search.mixture)
    data = {pool: 1.0 / len(pools) for pool in pools} if pools else arm_data(arm)
    return Variant(name, name, data, own)


def variants(config: Config) -> list[Variant]:
    """Every arm at every grid point, in arm order then grid order; a search's base."""
    if config.search is not None:
        return [search_base(config)]
    points = grid_points(config)
    out = []
    for name, arm in config.sweep.arms.items():
        own = flat(dict(arm.overrides))
        for point in points:
            label = f"{name}-{grid_label(point)}" if point else name
            out.append(Variant(label, name, arm_data(arm), own | point, point))
    return out


def nested(overrides: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in overrides.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def apply_overrides(config: Config, overrides: dict[str, Any]) -> Config:
    """The config with an arm's settings in place (OmegaConf checks their types)."""
    if not overrides:
        return config
    merged = OmegaConf.merge(OmegaConf.structured(config), nested(overrides))
    resolved: Config = OmegaConf.to_object(merged)  # type: ignore[assignment]
    return resolved


# How a mixture splits n examples: the sequential allocation ablate.data.mixtures samples by
# (example k from the pool furthest below its share), so every size is a prefix of the next.
def allocation(weights: dict[str, float], n: int) -> list[str]:
    """The pool of each of the first n examples (a prefix for any smaller n)."""
    pools = sorted(weights)
    if not pools:
        return []
    taken = dict.fromkeys(pools, 0)
    picks = []
    for k in range(1, n + 1):
        pool = max(pools, key=lambda p: (weights[p] * k - taken[p], -pools.index(p)))
        taken[pool] += 1
        picks.append(pool)
    return picks


def counts(weights: dict[str, float], n: int) -> dict[str, int]:
    """How many examples each pool gives a subset of n."""
    tally = Counter(allocation(weights, n))
    return {pool: tally.get(pool, 0) for pool in sorted(weights)}
