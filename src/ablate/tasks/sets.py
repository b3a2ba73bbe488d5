"""A task's problems ({id, prompt, answer}) from its source: a JSONL file, a Hugging Face
dataset, or the arithmetic or addition generator; and the fingerprint of their content that
keys the generate stage (README "Task metrics").

Each reference answer is checked with the task's scorer as it loads, so a file whose answers
the scorer cannot read (a wrong answer_field, letters for exact_number) is refused, naming the
file and line, instead of scoring 0 on every prompt."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ablate.config.schema import PoolConfig, TaskConfig
from ablate.data.build import json_object
from ablate.errors import UserError
from ablate.files import stable_hash
from ablate.tasks.arithmetic import addition_problems, arithmetic_problems
from ablate.tasks.records import TaskRecord
from ablate.tasks.scorers import scorer

# Bump when loading or scoring changes what a task's rows say: it is part of the fingerprint.
TASKS_VERSION = 1


def _text(value: Any) -> str | None:
    """Strings as they are; numbers (an answer column of ints) as their text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) else None


def _record(name: str, task: TaskConfig, row: dict[str, Any], index: int, where: str) -> TaskRecord:
    prompt, answer = _text(row.get(task.prompt_field)), _text(row.get(task.answer_field))
    at = f"evaluation.tasks.{name}"
    if prompt is None:
        raise UserError(
            f"{where}: no text under '{task.prompt_field}' (set {at}.prompt_field to the "
            f"field holding the prompt; fields: {', '.join(map(str, row))})."
        )
    if answer is None:
        raise UserError(
            f"{where}: no answer under '{task.answer_field}' (set {at}.answer_field; "
            f"fields: {', '.join(map(str, row))})."
        )
    problem = scorer(task.scorer).reference_problem(answer, task.pattern)
    if problem:
        raise UserError(
            f"{where}: the answer {answer[-60:]!r} {problem}, so the {task.scorer} scorer "
            f"cannot grade it (check {at}.answer_field and {at}.scorer)."
        )
    record_id = row.get("id")
    return {
        "id": str(record_id) if record_id is not None else f"{name}-{index}",
        "prompt": prompt,
        "answer": answer,
    }


def _jsonl_rows(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield json_object(line, path, number), f"{path}, line {number}"
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the task file ({exc}).") from None


def _hf_rows(name: str, task: TaskConfig) -> Iterator[tuple[dict[str, Any], str]]:
    try:
        import datasets  # noqa: F401  (a dependency; said plainly if it is missing)
    except ImportError as exc:
        raise ImportError("an hf task needs the datasets package: pip install datasets") from exc
    from ablate.data.sources.hf import load_split

    try:
        data, split = load_split(PoolConfig(source="hf", dataset=task.dataset, split=task.split))
    except UserError as exc:  # the pool loader's messages, pointed at this task's settings
        raise UserError(str(exc).replace("pools.<name>", f"evaluation.tasks.{name}")) from None
    for index, row in enumerate(data):
        yield dict(row), f"hf dataset '{task.dataset}' (split '{split}'), row {index}"


def _first(rows: Iterable[tuple[dict[str, Any], str]], size: int | None) -> Iterator[Any]:
    for index, item in enumerate(rows):
        if size is not None and index >= size:
            return
        yield index, item


def load_task(name: str, task: TaskConfig) -> list[TaskRecord]:
    """The task's problems, in file order (the first `size` of them when it is set)."""
    if task.source == "arithmetic":
        return arithmetic_problems(task.size or 0, task.seed)
    if task.source == "addition":
        return addition_problems(task.size or 0, task.seed)
    if task.source == "jsonl":
        rows = _jsonl_rows(Path(task.path or ""))
    elif task.source == "hf":
        rows = _hf_rows(name, task)
    else:  # config refuses other sources before a trial starts
        raise UserError(f"evaluation.tasks.{name}.source: unknown source '{task.source}'")
    records = [_record(name, task, row, i, where) for i, (row, where) in _first(rows, task.size)]
    if not records:
        raise UserError(f"evaluation.tasks.{name}: its source holds no problems.")
    return records


def tasks_fingerprint(tasks: dict[str, TaskConfig]) -> str:
    """What the tasks' problems are: each one's records (a file's content, whatever its path)
    or, for a hub dataset, its name and split. Loading them here also refuses a bad file while
    planning, before any trial trains."""
    parts: dict[str, Any] = {}
    for name, task in tasks.items():
        hub = task.source == "hf" and not Path(str(task.dataset)).exists()
        parts[name] = [task.dataset, task.split] if hub else stable_hash(load_task(name, task))
    return stable_hash([TASKS_VERSION, parts])
