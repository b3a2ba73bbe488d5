"""The branching factor across a sweep (pure): each (arm, size)'s over its seeds, the base
model's, and how many times fewer branches the tuned model keeps (arXiv 2506.17871: 2-5x).

A trial's value per prompt is its mean next-token entropy along its samples (ablate.branching);
the branching factor is exp of the mean over prompts. Entropies are averaged, then
exponentiated, so the group mean goes through ablate.analysis.contrasts like a judge score
(prompts paired across cells, seed variance from the split-plot) and its bounds are
exponentiated unchanged in order."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ablate.analysis.contrasts import Cell, _t_quantile, cell_group_mean, sweep_means

Entropies = Mapping[str, float]  # prompt id -> mean entropy (nats) per position


@dataclass(frozen=True)
class Factor:
    """A branching factor (or a ratio of two) with its interval, or why it has none."""

    value: float
    low: float = math.nan
    high: float = math.nan
    method: str = ""


@dataclass(frozen=True)
class BranchingCell:
    arm: str
    n_examples: int
    seed: int
    entropies: Entropies


@dataclass(frozen=True)
class BranchingPoint:
    arm: str
    n_examples: int
    seeds: tuple[int, ...]
    factor: Factor  # exp(mean entropy), seed- and prompt-aware
    fewer_than_base: Factor | None  # base / tuned: how many times fewer branches; None: no base


def _base_ratio(base: Entropies, cells: Sequence[BranchingCell], confidence: float) -> Factor:
    """exp(mean over prompts of base entropy - the cells' mean entropy): paired by prompt, t
    over prompts. With several seeds their spread is inside each prompt's difference, not
    measured apart (said in the method)."""
    shared = [p for p in base if all(p in c.entropies for c in cells)]
    diffs = [base[p] - statistics.fmean(c.entropies[p] for c in cells) for p in shared]
    if len(diffs) < 2:
        return Factor(math.exp(diffs[0]) if diffs else math.nan, method="fewer than 2 prompts")
    mean = statistics.fmean(diffs)
    half = _t_quantile(confidence, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    seeds = "" if len(cells) == 1 else f"; the {len(cells)} seeds averaged per prompt"
    method = f"t over {len(diffs)} prompts, paired with the base model{seeds}"
    return Factor(math.exp(mean), math.exp(mean - half), math.exp(mean + half), method)


def branching_points(
    cells: Sequence[BranchingCell], arms: Sequence[str], sizes: Sequence[int],
    confidence: float, base: Entropies | None = None,
) -> list[BranchingPoint]:  # fmt: skip
    if not cells:
        return []
    sweep = sweep_means([Cell(c.arm, c.n_examples, c.seed, {p: [h] for p, h in c.entropies.items()})
                         for c in cells])  # fmt: skip
    points = []
    for arm in arms:
        for n in sizes:
            group = [c for c in cells if (c.arm, c.n_examples) == (arm, n)]
            if not group:
                continue
            try:
                c = cell_group_mean(sweep, arm, n, confidence)
                factor = Factor(math.exp(c.estimate), math.exp(c.low), math.exp(c.high), c.method)
            except ValueError as e:
                factor = Factor(math.nan, method=str(e))
            ratio = _base_ratio(base, group, confidence) if base else None
            points.append(BranchingPoint(arm, n, tuple(sorted(c.seed for c in group)),
                                         factor, ratio))  # fmt: skip
    return points
