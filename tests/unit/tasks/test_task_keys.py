"""Tasks key the generate stage (and so judge and score after it) only when there are any:
a sweep without evaluation.tasks keeps the trial ids and done stages it had before tasks."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

from ablate.checks import plan_fingerprints
from ablate.config.schema import (
    ArmConfig,
    Config,
    JudgeConfig,
    ModelConfig,
    PoolConfig,
    SweepSpec,
    TaskConfig,
)
from ablate.data.pools import pool_key
from ablate.files import stable_hash
from ablate.plan import plan_trials
from ablate.stages import code_versions
from tests.support.planning import keys


def config(tasks: dict[str, TaskConfig] | None = None) -> Config:
    c = Config(
        name="unit",
        model=ModelConfig(name_or_path="builtin:tiny"),
        pools={"syn": PoolConfig(source="synthetic", size=100, seed=0)},
        judge=JudgeConfig(model="builtin:tiny"),
        sweep=SweepSpec(arms={"a": ArmConfig(pool="syn")}, sizes=[8, 16], seeds=[0, 1]),
    )
    c.evaluation.tasks = tasks or {}
    return c


ARITH = TaskConfig(source="arithmetic", size=16)


def test_without_tasks_the_generate_key_is_the_one_it_always_was() -> None:
    c = config()
    pool_fps, eval_fp = plan_fingerprints(c)
    assert eval_fp == pool_key(c.evaluation.prompts)  # no tasks: the prompts' key alone
    version = code_versions(c).stages["generate"]
    for trial in plan_trials(c, pool_fps, eval_fp, code_versions):
        # The formula from before tasks existed, written out.
        old = [version, trial.stage_keys["train"], asdict(c.generation), [eval_fp, None]]
        assert trial.stage_keys["generate"] == stable_hash(old)


def test_tasks_change_generate_judge_and_score_keys_only() -> None:
    without, with_tasks = config(), config({"arith": ARITH})
    for stage in ("select", "train"):
        assert keys(without, stage) == keys(with_tasks, stage)
    for stage in ("generate", "judge", "score"):
        assert not set(keys(without, stage)) & set(keys(with_tasks, stage))


def test_each_task_setting_and_name_is_keyed() -> None:
    base = keys(config({"arith": ARITH}), "generate")
    for changed in (
        {"arith": dataclasses.replace(ARITH, size=17)},
        {"arith": dataclasses.replace(ARITH, seed=1)},
        {"arith": dataclasses.replace(ARITH, max_new_tokens=8)},
        {"arith": dataclasses.replace(ARITH, scorer="contains")},
        {"sums": ARITH},  # the name names the metrics
        {"arith": ARITH, "more": dataclasses.replace(ARITH, seed=2)},
    ):
        assert keys(config(changed), "generate") != base


def _task_file(path: Path, answers: list[str]) -> TaskConfig:
    rows = [{"question": f"Question {i}?", "answer": a} for i, a in enumerate(answers)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return TaskConfig(source="jsonl", path=str(path))


def test_a_task_file_keys_by_content_not_by_path(tmp_path: Path) -> None:
    here = _task_file(tmp_path / "a.jsonl", ["#### 1", "#### 2"])
    moved = _task_file(tmp_path / "b.jsonl", ["#### 1", "#### 2"])
    edited = _task_file(tmp_path / "c.jsonl", ["#### 1", "#### 3"])
    first = keys(config({"t": here}), "generate")
    assert keys(config({"t": moved}), "generate") == first
    assert keys(config({"t": edited}), "generate") != first
