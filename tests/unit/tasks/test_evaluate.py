"""Task responses from a model (the builtin tiny one, untrained: inference only), their rows,
the generate stage's tasks.jsonl, and the score stage's task metrics."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from ablate.config.schema import (
    Config,
    EvaluationConfig,
    GenerationConfig,
    JudgeConfig,
    ModelConfig,
    PoolConfig,
    TaskConfig,
)
from ablate.files import read_json
from ablate.ledger import TrialLedger
from ablate.models.generation import LoadedModel, load_finetuned
from ablate.plan import STAGES, Trial
from ablate.records import Sample
from ablate.stages.context import TrialContext
from ablate.stages.generate import SAMPLES, run_generate
from ablate.stages.score import task_metrics
from ablate.tasks.evaluate import decoding, evaluate_tasks, scored_rows
from ablate.tasks.records import TASKS_FILE, TaskRecord, TaskRow, read_task_rows
from tests.support.fake_vllm import install

GENERATION = GenerationConfig(samples_per_prompt=2, max_new_tokens=4, batch_size=4)
GREEDY = TaskConfig(source="arithmetic", size=6, max_new_tokens=5)
SAMPLED = TaskConfig(source="arithmetic", size=3, decoding="sampled", samples=2, max_new_tokens=5)


@pytest.fixture(scope="module")
def tiny(tiny_cache: Path) -> LoadedModel:
    return load_finetuned(tiny_cache, "builtin:tiny", None, "float32", "cpu")


def test_greedy_is_one_deterministic_response_per_prompt(tiny: LoadedModel) -> None:
    rows = evaluate_tasks(tiny, {"arith": GREEDY}, GENERATION, seed=0)
    assert [(r["task"], r["sample"]) for r in rows] == [("arith", 0)] * 6
    assert evaluate_tasks(tiny, {"arith": GREEDY}, GENERATION, seed=5) == rows  # no sampling
    assert all(r["n_tokens"] <= 5 for r in rows)
    for row in rows:  # the untrained model writes no number: unreadable, wrong, with a reason
        assert row["correct"] is (row["reason"] is None and row["extracted"] == row["answer"])


def test_sampled_draws_the_task_samples_per_prompt(tiny: LoadedModel) -> None:
    rows = evaluate_tasks(tiny, {"s": SAMPLED, "g": GREEDY}, GENERATION, seed=0)
    assert [(r["task"], r["sample"]) for r in rows[:6]] == [("s", 0), ("s", 1)] * 3
    assert len(rows) == 6 + 6
    assert evaluate_tasks(tiny, {"s": SAMPLED}, GENERATION, seed=0) == rows[:6]


def test_decoding_settings() -> None:
    greedy = decoding(GREEDY, GENERATION)
    assert (greedy.temperature, greedy.samples_per_prompt, greedy.repetition_penalty) == (0, 1, 1)
    assert greedy.max_new_tokens == 5 and greedy.batch_size == GENERATION.batch_size
    sampled = decoding(SAMPLED, GENERATION)
    assert (sampled.temperature, sampled.top_p) == (GENERATION.temperature, GENERATION.top_p)
    assert sampled.samples_per_prompt == 2


def test_rows_score_each_sample_against_its_prompt_answer() -> None:
    records: list[TaskRecord] = [
        {"id": "p1", "prompt": "1+1?", "answer": "2"},
        {"id": "p2", "prompt": "2+1?", "answer": "3"},
    ]
    samples: list[Sample] = [
        {"prompt_id": pid, "prompt": "", "sample": k, "response": text, "n_tokens": 1,
         "stopped": True}
        for pid, k, text in [("p1", 0, "It is 2."), ("p1", 1, "4"), ("p2", 0, "no idea")]
    ]  # fmt: skip
    rows = scored_rows("t", GREEDY, records, samples)
    assert [(r["correct"], r["reason"], r["extracted"]) for r in rows] == [
        (True, None, "2"),
        (False, None, "4"),
        (False, "no number in the response", None),
    ]


# --- the stages -------------------------------------------------------------------------------


def _context(
    root: Path, tiny_cache: Path, tasks: dict[str, TaskConfig], backend: str = "hf"
) -> TrialContext:
    config = Config(
        name="unit",
        model=ModelConfig(name_or_path="builtin:tiny", dtype="float32"),
        generation=dataclasses.replace(GENERATION, backend=backend),
        judge=JudgeConfig(model="builtin:tiny"),
        evaluation=EvaluationConfig(
            prompts=PoolConfig(source="synthetic", size=10, seed=2), max_prompts=2, tasks=tasks
        ),
    )
    trial = Trial("syn", "syn", 8, 0, {stage: f"{stage}-1" for stage in STAGES})
    (root / "train").mkdir(parents=True)
    (root / "train" / "model").symlink_to(tiny_cache, target_is_directory=True)
    return TrialContext(config, trial, TrialLedger(root), {}, "cpu")


@pytest.mark.parametrize("tasks", [{}, {"arith": GREEDY}])
def test_generate_writes_task_rows_only_with_tasks(
    tiny_cache: Path, tmp_path: Path, tasks: dict[str, TaskConfig]
) -> None:
    ctx = _context(tmp_path / "trial", tiny_cache, tasks)
    out = tmp_path / "out"
    out.mkdir()
    run_generate(ctx, out)
    assert (out / SAMPLES).is_file()
    assert (out / TASKS_FILE).is_file() == bool(tasks)
    stats = read_json(out / "stats.json")
    assert not any(k.startswith("task_") for k in stats)  # the generation figures stay theirs
    if tasks:
        rows = read_task_rows(out / TASKS_FILE)
        assert [r["prompt_id"] for r in rows] == [f"arithmetic-0-{i}" for i in range(6)]


def test_with_vllm_tasks_run_on_transformers_before_the_engine(
    tiny_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM is a FAKE here (tests/support/fake_vllm.py: it cannot exist on CPU); its prompts
    show that it sampled the evaluation prompts only."""
    from ablate.models.load import load_tokenizer

    fake = install(monkeypatch, load_tokenizer("builtin:tiny"))
    ctx = _context(tmp_path / "trial", tiny_cache, {"arith": GREEDY}, backend="vllm")
    out = tmp_path / "out"
    out.mkdir()
    run_generate(ctx, out)
    assert len(read_task_rows(out / TASKS_FILE)) == 6
    ((prompts, _, _),) = fake.generate_calls
    assert len(prompts) == 2  # the two evaluation prompts, no task prompt


def _rows(task: str, correct_by_prompt: list[list[bool]]) -> list[TaskRow]:
    return [
        {"task": task, "prompt_id": f"p{i}", "sample": k, "response": "", "n_tokens": 0,
         "stopped": True, "answer": "1", "extracted": None, "correct": c,
         "reason": None if c else "no number in the response"}
        for i, prompt in enumerate(correct_by_prompt)
        for k, c in enumerate(prompt)
    ]  # fmt: skip


def test_task_metrics_accuracy_with_a_prompt_resampled_interval() -> None:
    correct = [[True, True], [True, False], [False, False], [True, True], [False, True]]
    metrics = task_metrics(_rows("arith", correct), 0.95, 500, seed=0)
    assert metrics["task_arith_accuracy"] == pytest.approx(6 / 10)
    assert metrics["task_arith_prompts"] == 5
    assert metrics["task_arith_unreadable_rate"] == pytest.approx(4 / 10)
    low, high = metrics["task_arith_accuracy_ci_low"], metrics["task_arith_accuracy_ci_high"]
    assert 0 <= low < 0.6 < high <= 1


def test_task_metrics_at_zero_and_with_one_prompt() -> None:
    none_right = task_metrics(_rows("z", [[False]] * 8), 0.95, 500, seed=0)
    # Every resample repeats 0: Clopper-Pearson over the 8 prompts instead of a point.
    assert none_right["task_z_accuracy"] == 0 and none_right["task_z_accuracy_ci_low"] == 0
    assert none_right["task_z_accuracy_ci_high"] == pytest.approx(1 - 0.025 ** (1 / 8))
    one = task_metrics(_rows("one", [[True]]), 0.95, 500, seed=0)
    assert one["task_one_accuracy"] == 1 and "task_one_accuracy_ci_low" not in one
    two = task_metrics(_rows("a", [[True]]) + _rows("b", [[False], [True]]), 0.95, 500, 0)
    assert {k for k in two if k.endswith("_accuracy")} == {"task_a_accuracy", "task_b_accuracy"}
    assert not math.isnan(two["task_b_accuracy"])
