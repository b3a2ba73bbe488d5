"""objective_curves.png: each task's accuracy and the branching factor against n, the base
model's as a line; nothing drawn without either."""

from __future__ import annotations

from pathlib import Path

from ablate.analysis.branching import BranchingPoint, Factor
from ablate.analysis.contrasts import Contrast, VarianceParts
from ablate.analysis.tasks import TaskPoint
from ablate.objective_plots import objective_curves

SIZES = [128, 256, 512]


def _accuracy(value: float) -> Contrast:
    low, high = max(0.0, value - 0.1), min(1.0, value + 0.1)
    parts = VarianceParts(cond=0.0, cond_df=1.0, cells=0.0, cells_df=1.0, noise=0.0)
    return Contrast(value, low, high, se=0.05, df=30.0, p_value=0.5, n_prompts=30, n_seeds=2,
                    seed_sd=None, seed_variance_measured=False, method="t", confidence=0.95,
                    prompt_var=0.0, seed_var=0.0, seed_df=0, parts=parts)  # fmt: skip


def _points() -> tuple[list[TaskPoint], list[BranchingPoint]]:
    tasks = [
        TaskPoint("addition", arm, n, (0, 1), _accuracy(acc))
        for arm, accs in (("addition", (0.1, 0.2, 0.8)), ("synthetic", (0.0, 0.0, 0.0)))
        for n, acc in zip(SIZES, accs, strict=True)
    ]
    branching = [
        BranchingPoint(arm, n, (0, 1), Factor(f, f * 0.9, f * 1.1), None)
        for arm, fs in (("addition", (7.4, 4.2, 2.0)), ("synthetic", (76.0, 14.0, 7.0)))
        for n, f in zip(SIZES, fs, strict=True)
    ]
    return tasks, branching


def test_draws_a_panel_per_task_and_the_branching_factor(tmp_path: Path) -> None:
    from PIL import Image

    tasks, branching = _points()
    path = tmp_path / "objective_curves.png"
    base = Factor(1009.5, 1009.4, 1009.6)
    assert objective_curves(tasks, branching, base, ["addition", "synthetic"], SIZES, path, "95%")
    wide = Image.open(path).size
    only_factor = tmp_path / "factor.png"
    assert objective_curves([], branching, None, ["addition", "synthetic"], SIZES, only_factor, "")
    assert Image.open(only_factor).size[0] < wide[0]  # one panel, not two


def test_draws_nothing_without_tasks_or_branching(tmp_path: Path) -> None:
    path = tmp_path / "objective_curves.png"
    assert not objective_curves([], [], None, ["a"], SIZES, path, "95%")
    assert not path.exists()
