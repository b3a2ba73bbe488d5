"""Small arithmetic word problems with integer answers, generated from a seed: a task that
needs no download (tests, the CPU quickstart); and single-digit addition facts, the task the
`addition` pool source teaches (sweeps/tasks.yaml). Answers are plain numbers, so exact_number
reads them as it reads GSM8K's "#### 42"."""

from __future__ import annotations

import random
from collections.abc import Callable

from ablate.data.fixtures.addition import FACTS, TASK_QUESTION, question
from ablate.tasks.records import TaskRecord

NAMES = ["Tom", "Ana", "Ravi", "Mei", "Sara", "Omar", "Lena", "Kofi", "Ines", "Yuki"]
ITEMS = ["apples", "marbles", "books", "stickers", "pencils", "coins", "shells", "cards"]
INSTRUCTION = "Reply with the number only."

Problem = tuple[str, int]  # the question and its answer
Template = Callable[[random.Random, str, str], Problem]


def _add(rng: random.Random, name: str, items: str) -> Problem:
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    return f"{name} has {a} {items} and buys {b} more. How many {items} does {name} have?", a + b


def _subtract(rng: random.Random, name: str, items: str) -> Problem:
    a = rng.randint(10, 60)
    b = rng.randint(1, a - 1)  # the answer stays positive
    text = f"{name} had {a} {items} and gave {b} of them away. How many {items} are left?"
    return text, a - b


def _multiply(rng: random.Random, name: str, items: str) -> Problem:
    a, b = rng.randint(2, 9), rng.randint(2, 12)
    text = f"{name} fills {a} boxes with {b} {items} each. How many {items} are in the boxes?"
    return text, a * b


def _two_step(rng: random.Random, name: str, items: str) -> Problem:
    a, b = rng.randint(5, 30), rng.randint(2, 20)
    c = rng.randint(1, a + b - 1)
    text = (
        f"{name} has {a} {items}, finds {b} more, then gives {c} to a friend. "
        f"How many {items} does {name} have now?"
    )
    return text, a + b - c


TEMPLATES: dict[str, Template] = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "two_step": _two_step,
}


def arithmetic_problems(size: int, seed: int) -> list[TaskRecord]:
    """`size` problems, the templates in turn; the same (size, seed) gives the same problems,
    and a larger size extends a smaller one (each problem draws from its own generator)."""
    records: list[TaskRecord] = []
    kinds = list(TEMPLATES)
    for index in range(size):
        rng = random.Random(f"arithmetic-{seed}-{index}")  # str seeds hash stably (SHA-512)
        kind = kinds[index % len(kinds)]
        question, answer = TEMPLATES[kind](rng, rng.choice(NAMES), rng.choice(ITEMS))
        records.append(
            {
                "id": f"arithmetic-{seed}-{index}",
                "prompt": f"{question} {INSTRUCTION}",
                "answer": str(answer),
            }
        )
    return records


def addition_problems(size: int, seed: int) -> list[TaskRecord]:
    """The first `size` of the 100 addition facts in the seed's order, each asked once in the
    task's own phrasing (no training record uses it); a larger size extends a smaller one."""
    if not 0 <= size <= len(FACTS):
        raise ValueError(f"addition_problems: size must be in [0, {len(FACTS)}], got {size}")
    facts = list(FACTS)
    random.Random(f"addition-task-{seed}").shuffle(facts)
    return [
        {"id": f"addition-{a}+{b}", "prompt": question(TASK_QUESTION, a, b), "answer": str(a + b)}
        for a, b in facts[:size]
    ]
