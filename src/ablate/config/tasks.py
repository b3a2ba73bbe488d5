"""evaluation.tasks checked: names, sources, scorers, decoding (README "Task metrics").

The scorers themselves live in ablate.tasks.scorers (a component, above config); their names
are here so that config can check them, and that registry asserts it holds exactly these."""

from __future__ import annotations

import re
from pathlib import Path

from ablate.config.schema import Config, TaskConfig
from ablate.registry import suggest

TASK_SOURCES = ["addition", "arithmetic", "hf", "jsonl"]
GENERATED = ("addition", "arithmetic")  # made by the project from a seed: size, no file
# The addition table's size (ablate.data.fixtures.addition asserts it holds this many facts).
ADDITION_FACTS = 100
SCORER_NAMES = ["choice", "contains", "exact_number", "regex"]
DECODINGS = ["greedy", "sampled"]
SEED_LIMIT = 2**32  # numpy's and torch's generators take seeds in [0, 2**32)


def _choice(path: str, value: str, choices: list[str]) -> list[str]:
    if value in choices:
        return []
    return [f"{path}: '{value}' is not one of {choices}.{suggest(value, choices)}"]


def _name_problems(where: str, name: str) -> list[str]:
    # A task's name becomes metric names (task_<name>_accuracy) and summary columns.
    if re.fullmatch(r"[A-Za-z0-9_]+", name):
        return []
    return [f"{where}: '{name}' must be letters, digits or '_' only (it names the task's metrics)"]


def _source_problems(where: str, task: TaskConfig) -> list[str]:
    problems = _choice(f"{where}.source", task.source, TASK_SOURCES)
    if task.source == "jsonl" and not task.path:
        problems.append(f"{where}.path: a jsonl task needs its file (one JSON object per line)")
    elif task.source == "jsonl" and not Path(str(task.path)).is_file():
        problems.append(f"{where}.path: no such file: {task.path}")
    if task.source == "hf" and not task.dataset:
        problems.append(f"{where}.dataset: an hf task needs a hub name or a saved folder")
    if task.source in GENERATED:
        if task.size is None:
            problems.append(f"{where}.size: an {task.source} task needs how many problems")
        if task.path or task.dataset:
            problems.append(f"{where}: an {task.source} task is generated; drop path and dataset")
    if task.source == "addition" and task.size is not None and task.size > ADDITION_FACTS:
        problems.append(
            f"{where}.size: the addition table holds {ADDITION_FACTS} facts (0 + 0 to 9 + 9), "
            f"got {task.size}"
        )
    if task.size is not None and task.size <= 0:
        problems.append(f"{where}.size: must be > 0, got {task.size}")
    if not 0 <= task.seed < SEED_LIMIT:
        problems.append(f"{where}.seed: {task.seed} is outside [0, 2**32)")
    return problems


def _scorer_problems(where: str, task: TaskConfig) -> list[str]:
    problems = _choice(f"{where}.scorer", task.scorer, SCORER_NAMES)
    if task.scorer == "regex":
        if not task.pattern:
            problems.append(f"{where}.pattern: the regex scorer needs a pattern")
        else:
            try:
                re.compile(task.pattern)
            except re.error as exc:
                problems.append(f"{where}.pattern: not a regular expression ({exc})")
    elif task.pattern is not None:
        problems.append(
            f"{where}.pattern: only the regex scorer reads a pattern (scorer is "
            f"'{task.scorer}'); drop it or set scorer: regex"
        )
    return problems


def _decoding_problems(where: str, task: TaskConfig) -> list[str]:
    problems = _choice(f"{where}.decoding", task.decoding, DECODINGS)
    if task.samples < 1:
        problems.append(f"{where}.samples: must be >= 1, got {task.samples}")
    elif task.decoding == "greedy" and task.samples != 1:
        problems.append(
            f"{where}.samples: greedy decoding gives one response per prompt; set "
            "decoding: sampled for more"
        )
    if task.max_new_tokens <= 0:
        problems.append(f"{where}.max_new_tokens: must be > 0, got {task.max_new_tokens}")
    return problems


def task_problems(config: Config) -> list[str]:
    """Every problem of evaluation.tasks, at its dotted path."""
    problems: list[str] = []
    for name, task in config.evaluation.tasks.items():
        where = f"evaluation.tasks.{name}"
        problems += _name_problems(where, str(name))
        problems += _source_problems(where, task)
        problems += _scorer_problems(where, task)
        problems += _decoding_problems(where, task)
    return problems
