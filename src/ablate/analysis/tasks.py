"""Objective task accuracy across a sweep (pure): each (arm, size)'s accuracy over its seeds
with an interval that resamples prompts and seeds, and the power law of the error rate
against the number of examples (arXiv 2410.03717 finds task performance keeps following one
where judged style saturates).

A task answer is correct (1) or not (0): a task is judged like a judge score of 0/1 on the
same prompts in every trial, so ablate.analysis.contrasts gives its group means exactly as it
gives the judge's (prompts paired across cells, seed variance from the split-plot)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ablate.analysis.contrasts import Cell, Contrast, cell_group_mean, sweep_means
from ablate.analysis.fits import PowerLaw, power_law_fit

# task -> prompt id -> each response's correctness (1.0 / 0.0)
TaskScores = Mapping[str, Mapping[str, Sequence[float | None]]]


@dataclass(frozen=True)
class TaskCell:
    """One trial's answers to one task."""

    arm: str
    n_examples: int
    seed: int
    scores: Mapping[str, Sequence[float | None]]  # prompt id -> correctness of each response


@dataclass(frozen=True)
class TaskPoint:
    task: str
    arm: str
    n_examples: int
    seeds: tuple[int, ...]
    accuracy: Contrast | None  # None: fewer than 2 prompts


def task_names(cells: Mapping[str, Sequence[TaskCell]]) -> list[str]:
    return sorted(name for name, found in cells.items() if found)


def task_points(
    cells: Sequence[TaskCell], task: str, arms: Sequence[str], sizes: Sequence[int],
    confidence: float,
) -> list[TaskPoint]:  # fmt: skip
    """Each (arm, size) with done trials: its accuracy over seeds, with its interval."""
    sweep = sweep_means([Cell(c.arm, c.n_examples, c.seed, c.scores) for c in cells])
    points = []
    for arm in arms:
        for n in sizes:
            seeds = tuple(sorted(c.seed for c in cells if (c.arm, c.n_examples) == (arm, n)))
            if not seeds:
                continue
            try:
                accuracy: Contrast | None = cell_group_mean(sweep, arm, n, confidence)
            except ValueError:
                accuracy = None
            if accuracy is not None and accuracy.estimate in (0.0, 1.0):
                accuracy = _all_alike(accuracy)
            points.append(TaskPoint(task, arm, n, seeds, accuracy))
    return points


def _accuracy(cell: TaskCell) -> float | None:
    """The trial's accuracy: the mean over prompts of each prompt's share of right answers."""
    means = [
        sum(v for v in got if v is not None) / len([v for v in got if v is not None])
        for got in cell.scores.values()
        if any(v is not None for v in got)
    ]
    return sum(means) / len(means) if means else None


def _all_alike(c: Contrast) -> Contrast:
    """Every answer right (or every one wrong): no spread for a t interval, which would be
    [0, 0]. Clopper-Pearson over the prompts instead, the prompts as the independent trials
    (conservative: several answers to one prompt are not independent)."""
    from scipy.stats import beta

    prompts, right = c.n_prompts, round(c.estimate * c.n_prompts)
    tail = (1 - c.confidence) / 2
    low = 0.0 if right == 0 else float(beta.ppf(tail, right, prompts - right + 1))
    high = 1.0 if right == prompts else float(beta.ppf(1 - tail, right + 1, prompts - right))
    what = "wrong" if right == 0 else "right"
    method = f"Clopper-Pearson over {prompts} prompts (every answer {what}: nothing to resample)"
    return dataclasses.replace(c, low=low, high=high, method=method)


def error_power_law(cells: Sequence[TaskCell], arm: str, confidence: float) -> PowerLaw | None:
    """error = A * n^-alpha over the arm's trials, one point per trial (seeds give the fit its
    residual df, as the held-out loss's does); alpha > 0: accuracy rises with n. None with
    fewer than 2 sizes whose error is above 0 (a perfect score has no logarithm), or when
    every answer is wrong."""
    points = [
        (c.n_examples, 1.0 - acc)
        for c in cells
        if c.arm == arm and (acc := _accuracy(c)) is not None and 1.0 - acc > 0
    ]
    if len({n for n, _ in points}) < 2 or all(e == 1.0 for _, e in points):
        return None  # every answer wrong at every size: nothing to fit (its log is 0 throughout)
    return power_law_fit([n for n, _ in points], [e for _, e in points], confidence)


def error_verdict(fit: PowerLaw) -> tuple[str, str]:
    """Words for the error's exponent, by the interval alone (declared rule)."""
    if not math.isfinite(fit.low):
        return "no interval", f"error exponent {fit.exponent:.3f}; {fit.method}"
    numbers = (f"error ~ n^-alpha, alpha {fit.exponent:.3f} ({fit.confidence:.0%} interval "
               f"{fit.low:.3f} to {fit.high:.3f})")  # fmt: skip
    if fit.low > 0:
        return "rises with n", f"accuracy rises with n: {numbers}"
    if fit.high < 0:
        return "falls with n", f"accuracy falls with n: {numbers}"
    return "no detectable trend", f"no detectable trend: {numbers}"
