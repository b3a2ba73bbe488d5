"""The report's figure of what a judge does not score: each task's accuracy and the branching
factor against the number of examples (objective_curves.png), drawn as plots.py draws the
scaling curve (same colours per arm, dodged bars, log2 axis, atomic write)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ablate.analysis.branching import BranchingPoint, Factor
from ablate.analysis.tasks import TaskPoint
from ablate.plots import _curve, _figure, _log2_axis, _Mark, _save, _style, arm_colours

if TYPE_CHECKING:
    from matplotlib.axes import Axes

NAME = "objective_curves.png"


def _task_marks(points: Sequence[TaskPoint], task: str) -> list[_Mark]:
    return [
        _Mark(p.arm, p.n_examples, p.accuracy.estimate, p.accuracy.low, p.accuracy.high)
        for p in points
        if p.task == task and p.accuracy is not None and math.isfinite(p.accuracy.estimate)
    ]


def _branching_marks(points: Sequence[BranchingPoint]) -> list[_Mark]:
    return [
        _Mark(p.arm, p.n_examples, p.factor.value, p.factor.low, p.factor.high)
        for p in points
        if math.isfinite(p.factor.value)
    ]


def _base_line(ax: Axes, base: Factor) -> None:
    """The base model's branching factor: a dashed line, its interval a band."""
    ax.axhline(base.value, color="black", linestyle="--", linewidth=1.2, label="base model")
    if math.isfinite(base.low) and math.isfinite(base.high):
        ax.axhspan(base.low, base.high, color="black", alpha=0.08)


def objective_curves(
    task_points: Sequence[TaskPoint],
    branching: Sequence[BranchingPoint],
    base: Factor | None,
    arms: Sequence[str],
    sizes: Sequence[int],
    path: Path,
    interval: str,
) -> bool:
    """One panel per task (accuracy, 0 to 1) and one for the branching factor (log scale,
    the base model's as a dashed line); False, drawing nothing, without either."""
    tasks = sorted({p.task for p in task_points if p.accuracy is not None})
    panels = [(task, _task_marks(task_points, task)) for task in tasks]
    panels = [(task, marks) for task, marks in panels if marks]
    factor = _branching_marks(branching)
    if not panels and not factor:
        return False
    colours = arm_colours(arms)
    count = len(panels) + bool(factor)
    with _style():
        fig, axes = _figure(min(5.5 * count + 1.5, 20.0), 4.8, count)
        for ax, (task, marks) in zip(axes, panels, strict=False):
            _curve(ax, marks, arms, colours)
            ax.set(title=f"Task {task}", ylabel="accuracy (share right)", ylim=(-0.03, 1.03))
        if factor:
            ax = axes[-1]
            _curve(ax, factor, arms, colours)
            if base is not None and math.isfinite(base.value):
                _base_line(ax, base)
            ax.set_yscale("log")
            ax.set(title="Branching factor", ylabel="exp(mean next-token entropy)")
        for ax in axes:
            _log2_axis(ax, sizes)
            ax.set_xlabel("training examples (log2 scale)")
        fig.suptitle(f"Scored without a judge, vs number of training examples\nbars: {interval}")
        handles, labels = axes[-1].get_legend_handles_labels()
        if panels and factor:  # the arms as the task panels draw them, then the base line
            first, names = axes[0].get_legend_handles_labels()
            extra = [(h, n) for h, n in zip(handles, labels, strict=True) if n not in names]
            handles, labels = first + [h for h, _ in extra], names + [n for _, n in extra]
        fig.legend(handles, labels, title="arm", loc="outside lower center",
                   ncols=min(len(labels), 6))  # fmt: skip
        _save(fig, path)
    return True
