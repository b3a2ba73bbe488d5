"""A fine-tuned model's responses to each task's prompts, scored without a judge.

Decoding: `greedy` is the argmax continuation, one response per prompt, with no repetition
penalty (the usual way GSM8K-style accuracy is measured); `sampled` draws `samples` responses
per prompt with the generation section's temperature, top_p and repetition penalty (LIMA's
decoding), seeded by the trial. Both reuse the evaluation prompts' batching
(ablate.models.generation), capped at the task's max_new_tokens."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ablate.config.schema import GenerationConfig, TaskConfig
from ablate.tasks.records import TaskRecord, TaskRow
from ablate.tasks.scorers import scorer
from ablate.tasks.sets import load_task

if TYPE_CHECKING:
    from ablate.models.generation import DecodeMeter, LoadedModel
    from ablate.records import Sample


def decoding(task: TaskConfig, generation: GenerationConfig) -> GenerationConfig:
    """The generation settings a task's responses are drawn with."""
    if task.decoding == "greedy":
        # temperature 0 turns sampling off (generate_samples); top_p 1 and penalty 1 are no-ops.
        return dataclasses.replace(
            generation,
            samples_per_prompt=1,
            temperature=0.0,
            top_p=1.0,
            repetition_penalty=1.0,
            max_new_tokens=task.max_new_tokens,
        )
    return dataclasses.replace(
        generation, samples_per_prompt=task.samples, max_new_tokens=task.max_new_tokens
    )


def scored_rows(
    name: str, task: TaskConfig, records: list[TaskRecord], samples: list[Sample]
) -> list[TaskRow]:
    """Each sample scored against its prompt's reference answer."""
    answers = {r["id"]: r["answer"] for r in records}
    grade = scorer(task.scorer).score
    rows: list[TaskRow] = []
    for s in samples:
        answer = answers[s["prompt_id"]]
        result = grade(s["response"], answer, task.pattern)
        rows.append(
            {
                "task": name,
                "prompt_id": s["prompt_id"],
                "sample": s["sample"],
                "response": s["response"],
                "n_tokens": s["n_tokens"],
                "stopped": s["stopped"],
                "answer": answer,
                "extracted": result.extracted,
                "correct": result.correct,
                "reason": result.reason,
            }
        )
    return rows


def evaluate_tasks(
    lm: LoadedModel,
    tasks: dict[str, TaskConfig],
    generation: GenerationConfig,
    seed: int,
    meter: DecodeMeter | None = None,
) -> list[TaskRow]:
    """Every task's rows, task by task in the config's order, prompts in the task's order."""
    from ablate.models.generation import generate_samples

    rows: list[TaskRow] = []
    for name, task in tasks.items():
        records = load_task(name, task)
        if len({r["id"] for r in records}) != len(records):
            # ids key the rows back to their answers; a file's repeated ids would mix them up
            records = [{**r, "id": f"{name}-{i}"} for i, r in enumerate(records)]
        prompts = [{"id": r["id"], "prompt": r["prompt"]} for r in records]
        samples = generate_samples(lm, prompts, decoding(task, generation), seed, meter)
        rows += scored_rows(name, task, records, samples)
    return rows
