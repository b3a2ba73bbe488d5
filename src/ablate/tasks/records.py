"""A task's problems and the rows its evaluation writes (generate/tasks.jsonl, read by score)."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict, cast

from ablate.files import read_jsonl

TASKS_FILE = "tasks.jsonl"  # in the generate stage's folder, when evaluation.tasks is set


class TaskRecord(TypedDict):
    id: str
    prompt: str
    answer: str  # the reference, as the task's scorer reads it


class TaskRow(TypedDict):
    """One response to one task prompt, scored."""

    task: str
    prompt_id: str
    sample: int
    response: str
    n_tokens: int
    stopped: bool  # ended with a stop token, not max_new_tokens
    answer: str  # the reference
    extracted: str | None  # what the scorer read from the response
    correct: bool
    reason: str | None  # why the response's answer could not be read; None when it was


def read_task_rows(path: Path) -> list[TaskRow]:
    return cast(list[TaskRow], read_jsonl(path))
