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

from ablate.analysis.contrasts import Cell, Contrast, cell_group_mean, clipped, sweep_means
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
            elif accuracy is not None:  # 1 right in 16 prompts: 0.062 +- 0.134
                accuracy = clipped(accuracy, 0.0, 1.0)
            points.append(TaskPoint(task, arm, n, seeds, accuracy))
    return points


def _accuracy(cell: TaskCell) -> tuple[float, int] | None:
    """The trial's accuracy, the mean over prompts of each prompt's share of right answers,
    and how many prompts it averages."""
    means = [
        sum(v for v in got if v is not None) / len([v for v in got if v is not None])
        for got in cell.scores.values()
        if any(v is not None for v in got)
    ]
    return (sum(means) / len(means), len(means)) if means else None


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


# Each trial's error enters the fit as (wrong + 1/2) / (prompts + 1): a trial with every
# answer right keeps its point (log 0 does not exist, and dropping the best trials would flatten
# the curve), and no other point moves by more than half an answer.
ERROR_FLOOR = "error taken as (wrong + 1/2) / (prompts + 1) per trial, so no trial is dropped"


def _arm_accuracies(cells: Sequence[TaskCell], arm: str) -> list[tuple[int, float, int]]:
    """(n, accuracy, prompts) of each of the arm's trials that answered the task."""
    found = []
    for c in cells:
        accuracy = _accuracy(c) if c.arm == arm else None
        if accuracy is not None:
            found.append((c.n_examples, *accuracy))
    return found


def _alike(points: list[tuple[int, float, int]]) -> str | None:
    accuracies = [accuracy for _, accuracy, _ in points]
    if not any(accuracies):
        return "every answer wrong at every size"
    if all(accuracy == 1.0 for accuracy in accuracies):
        return "every answer right at every size"
    return None


def error_fit_gap(cells: Sequence[TaskCell], arm: str) -> str | None:
    """Why an arm with trials at 2 or more sizes has no power law of its error (None when it
    has one, or has fewer sizes: the sweep says that itself)."""
    points = _arm_accuracies(cells, arm)
    return _alike(points) if len({n for n, _, _ in points}) >= 2 else None


def error_power_law(cells: Sequence[TaskCell], arm: str, confidence: float) -> PowerLaw | None:
    """error = A * n^-alpha over the arm's trials, one point per trial (seeds give the fit its
    residual df, as the held-out loss's does); alpha > 0: accuracy rises with n. None with
    fewer than 2 sizes, or when every answer is wrong, or every one right (no curve to fit)."""
    points = _arm_accuracies(cells, arm)
    if len({n for n, _, _ in points}) < 2 or _alike(points):
        return None
    errors = [((1.0 - accuracy) * prompts + 0.5) / (prompts + 1) for _, accuracy, prompts in points]
    fit = power_law_fit([n for n, _, _ in points], errors, confidence)
    return dataclasses.replace(fit, method=f"{fit.method}; {ERROR_FLOOR}")


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
