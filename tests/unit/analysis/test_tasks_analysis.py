"""Objective task accuracy across a sweep: seed- and prompt-aware intervals per (arm, size)
that cover the truth, the error rate's power law against n recovered, an exact interval when
every answer is alike, and the report's table, fits and CSV columns."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from ablate.analysis.fits import power_law_fit
from ablate.analysis.sweep import Design, TrialData, analyze_sweep
from ablate.analysis.tasks import TaskCell, error_power_law, task_points
from ablate.results import TrialState, summary_rows, task_columns, task_scores
from ablate.tasks.records import TASKS_FILE
from tests.unit.test_report import _context

SIZES = (32, 64, 128, 256)
PROMPTS = 60


def truth(n: int) -> float:
    """Accuracy whose error follows 1 - acc = 2 * n^-0.3."""
    return 1.0 - 2.0 * n**-0.3


def cell(arm: str, n: int, seed: int, rng: random.Random, accuracy: float) -> TaskCell:
    # Each prompt has its own difficulty (shared by every trial), and each trial a seed shift.
    shift = rng.gauss(0, 0.03)
    scores = {}
    for i in range(PROMPTS):
        p = min(1.0, max(0.0, accuracy + shift + (i % 5 - 2) * 0.05))
        scores[f"p{i}"] = [1.0 if rng.random() < p else 0.0 for _ in range(2)]
    return TaskCell(arm, n, seed, scores)


def sweep_trials(seed: int) -> list[TrialData]:
    rng = random.Random(seed)
    return [
        TrialData("a", n, s, {"q": [3.0, 4.0], "r": [2.0, 5.0]},
                  tasks={"arith": cell("a", n, s, rng, truth(n)).scores})
        for n in SIZES for s in (0, 1)
    ]  # fmt: skip


def test_accuracy_intervals_cover_the_truth_and_the_error_exponent_is_recovered() -> None:
    covered, total, exponents = 0, 0, []
    for rep in range(40):
        rng = random.Random(rep)
        cells = [cell("a", n, s, rng, truth(n)) for n in SIZES for s in range(3)]
        for p in task_points(cells, "arith", ["a"], SIZES, 0.95):
            assert p.accuracy is not None and p.seeds == (0, 1, 2)
            covered += p.accuracy.low <= truth(p.n_examples) <= p.accuracy.high
            total += 1
        fit = error_power_law(cells, "a", 0.95)
        assert fit is not None
        exponents.append(fit.exponent)
    assert 0.88 <= covered / total <= 1.0
    assert abs(sum(exponents) / len(exponents) - 0.3) < 0.05


def test_every_answer_wrong_gets_an_exact_interval_and_no_fit() -> None:
    cells = [TaskCell("a", n, 0, {f"p{i}": [0.0] for i in range(16)}) for n in SIZES]
    points = task_points(cells, "arith", ["a"], SIZES, 0.95)
    assert all(p.accuracy is not None and p.accuracy.estimate == 0.0 for p in points)
    first = points[0].accuracy
    assert first is not None and first.low == 0.0 and 0.2 < first.high < 0.21  # 1 - 0.025^(1/16)
    assert "Clopper-Pearson over 16 prompts" in first.method
    assert error_power_law(cells, "a", 0.95) is None


def test_the_sweep_analysis_fits_each_tasks_error() -> None:
    analysis = analyze_sweep(sweep_trials(1), Design(["a"], list(SIZES), [0, 1]))
    assert {(p.task, p.n_examples) for p in analysis.task_points} == {("arith", n) for n in SIZES}
    fit = next(f for f in analysis.fits if f.metric == "task_arith_accuracy")
    assert fit.verdict == "rises with n" and fit.low > 0
    assert not [n for n in analysis.notes if n.startswith("task ")]


def test_an_arm_with_every_answer_wrong_is_said_to_have_no_fit() -> None:
    # A control arm whose data teaches nothing of the task: no row in the fits, and a reason.
    control = [dataclasses.replace(t, arm="b", tasks={"arith": {"p0": [0.0], "p1": [0.0]}})
               for t in sweep_trials(1)]  # fmt: skip
    analysis = analyze_sweep(sweep_trials(1) + control, Design(["a", "b"], list(SIZES), [0, 1]))
    assert [f.arm for f in analysis.fits if f.metric == "task_arith_accuracy"] == ["a"]
    assert "task arith, arm b: no power law of the error: every answer wrong at every size" in (
        analysis.notes
    )


def test_the_report_has_a_task_table_and_fit(tmp_path: Path) -> None:
    from ablate.report import render_markdown

    ctx = _context(["a"], list(SIZES), [0, 1], set())
    analysis = analyze_sweep(sweep_trials(2), Design(["a"], list(SIZES), [0, 1]))
    ctx = dataclasses.replace(ctx, analysis=analysis)
    text = render_markdown(ctx, {})
    assert "### Task accuracy: arith" in text
    assert "task arith: error exponent alpha (1 - accuracy ~ A n^-alpha)" in text


def test_the_terminal_says_the_accuracy_rises_not_the_exponent() -> None:
    from ablate.report import verdict_lines

    ctx = _context(["a"], list(SIZES), [0, 1], set())
    analysis = analyze_sweep(sweep_trials(2), Design(["a"], list(SIZES), [0, 1]))
    lines = verdict_lines(dataclasses.replace(ctx, analysis=analysis).analysis)
    (task,) = [line for line in lines if "task arith" in line[0]]
    assert task[:2] == ("a task arith error exponent", "accuracy rises with n")
    others = [line for line in lines if "task" not in line[0]]
    assert others and not any(line[1].startswith("accuracy") for line in others)


def test_task_scores_and_summary_columns_come_from_the_ledger(tmp_path: Path) -> None:
    import json

    from ablate.plan import STAGES, Trial

    trial = Trial("a", "pool", 32, 0, dict.fromkeys(STAGES, "k"))
    folder = tmp_path / "trials" / trial.folder / "generate"
    folder.mkdir(parents=True)
    rows = [{"task": "arith", "prompt_id": "p1", "correct": True},
            {"task": "arith", "prompt_id": "p1", "correct": False},
            {"task": "arith", "prompt_id": "p2", "correct": True}]  # fmt: skip
    (folder / TASKS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"task": "ar')
    assert task_scores(tmp_path, trial) == {"arith": {"p1": [1.0, 0.0], "p2": [1.0]}}
    state = TrialState(trial, "done", None, "", {"task_arith_accuracy": 0.75})
    assert task_columns([state]) == ["task_arith_accuracy"]
    assert summary_rows([state])[0]["task_arith_accuracy"] == "0.75"


def _right(arm: str, n: int, right: int, prompts: int = 20) -> TaskCell:
    return TaskCell(arm, n, 0, {f"p{i}": [1.0 if i < right else 0.0] for i in range(prompts)})


def test_a_trial_with_every_answer_right_keeps_its_point_in_the_fit() -> None:
    # Real sweeps reach 100% at their largest size; dropping that trial (log 0) flattened the
    # curve. Each error enters as (wrong + 1/2) / (prompts + 1): 10 wrong of 20 stays 0.5.
    cells = [_right("a", n, r) for n, r in ((32, 10), (64, 15), (128, 18), (256, 20))]
    fit = error_power_law(cells, "a", 0.95)
    assert fit is not None and fit.n_cells == 4 and fit.n_sizes == 4
    assert "(wrong + 1/2) / (prompts + 1)" in fit.method
    same = power_law_fit([32, 64, 128, 256], [10.5 / 21, 5.5 / 21, 2.5 / 21, 0.5 / 21])
    assert (fit.exponent, fit.low) == pytest.approx((same.exponent, same.low))
    assert fit.low > 0
    assert error_power_law([_right("a", n, 20) for n in SIZES], "a", 0.95) is None  # no curve


def test_an_accuracy_interval_is_cut_to_0_and_1() -> None:
    # 1 right answer in 16 prompts: the t interval 0.062 +- 0.134 reaches below 0.
    cells = [_right("a", n, 1, prompts=16) for n in SIZES]
    for point in task_points(cells, "arith", ["a"], SIZES, 0.95):
        assert point.accuracy is not None
        assert point.accuracy.low == 0.0 < point.accuracy.estimate < point.accuracy.high < 0.3
        assert point.accuracy.method.endswith("; cut to [0, 1]")
    inside = task_points([_right("a", n, 8) for n in SIZES], "arith", ["a"], SIZES, 0.95)[0]
    assert inside.accuracy is not None and "cut" not in inside.accuracy.method


def test_the_trials_table_gives_each_trials_task_accuracy_and_branching_factor() -> None:
    from ablate.answer import trial_rows
    from ablate.plan import STAGES, Trial
    from ablate.report import render_markdown

    metrics = {"task_arith_accuracy": 0.75, "task_arith_accuracy_ci_low": 0.5,
               "task_arith_accuracy_ci_high": 0.9, "task_arith_prompts": 16,
               "branching_factor": 4.0, "branching_factor_ci_low": 3.5,
               "branching_factor_ci_high": 4.6}  # fmt: skip
    trial = Trial("a", "pool", 32, 0, dict.fromkeys(STAGES, "k"))
    (row,) = trial_rows([TrialState(trial, "done", None, "", metrics)])
    assert row.tasks == {"arith": (0.75, 0.5, 0.9)} and row.branching == (4.0, 3.5, 4.6)
    ctx = _context(["a"], [32, 64], [0], {("a", 64, 0)})
    first, missing = ctx.trials
    trials = [dataclasses.replace(first, tasks=row.tasks, branching=row.branching), missing]
    text = render_markdown(dataclasses.replace(ctx, trials=trials), {})
    assert "| unscored | task arith | branching factor |" in text
    assert "| 0.750 [0.500, 0.900] | 4.000 [3.500, 4.600] |" in text
    assert "| failed at train: out of memory | - | - | - | - | - |" in text
