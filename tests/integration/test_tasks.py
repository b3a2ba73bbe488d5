"""A whole trial with a task (real training of the tiny builtin model on CPU): the score
stage's metrics carry the task's accuracy inside its interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablate.config.schema import TaskConfig
from ablate.data.pools import prepare_pool
from ablate.files import read_json
from ablate.plan import STAGES, Trial
from ablate.stages.pipeline import run_trial
from ablate.tasks.records import TASKS_FILE, read_task_rows
from tests.support.configs import tiny_trial_config

pytestmark = pytest.mark.integration


def test_a_trial_with_a_task_reports_its_accuracy_with_an_interval(
    tiny_cache: Path, tmp_path: Path
) -> None:
    task = TaskConfig(source="arithmetic", size=8, max_new_tokens=8)
    config = tiny_trial_config("full", tasks={"arithmetic": task})
    trial = Trial("syn", "syn", 8, 0, {stage: f"{stage}-1" for stage in STAGES})
    pool_dir = prepare_pool("syn", config.pools["syn"], tmp_path / "pools")
    metrics = run_trial(config, trial, tmp_path, {"syn": pool_dir}, "cpu")

    rows = read_task_rows(tmp_path / "generate" / TASKS_FILE)
    assert len(rows) == 8 and {r["task"] for r in rows} == {"arithmetic"}
    assert metrics["task_arithmetic_prompts"] == 8
    accuracy = metrics["task_arithmetic_accuracy"]
    assert accuracy == sum(r["correct"] for r in rows) / 8
    low, high = (
        metrics["task_arithmetic_accuracy_ci_low"],
        metrics["task_arithmetic_accuracy_ci_high"],
    )
    assert 0 <= low <= accuracy <= high <= 1 and low < high  # 8 prompts: never a point
    assert read_json(tmp_path / "score" / trial.judge_name / "metrics.json") == metrics
