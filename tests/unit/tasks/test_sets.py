"""A task's problems: the arithmetic generator (deterministic, right answers), JSONL files
(GSM8K's format; a bad line is named with its file and line), saved Hugging Face datasets,
and the fingerprint of their content."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ablate.config.schema import TaskConfig
from ablate.errors import UserError
from ablate.tasks.arithmetic import arithmetic_problems
from ablate.tasks.sets import load_task, tasks_fingerprint

GSM8K_ROWS = [
    {"question": "Natalia sold 48 clips in April and half as many in May. How many in all?",
     "answer": "In May she sold 48/2 = 24 clips.\nIn all 48+24 = 72 clips.\n#### 72"},
    {"question": "Weng earns $12 an hour. How much did she earn for 50 minutes?",
     "answer": "She earned 12/60 * 50 = 10 dollars.\n#### 10"},
]  # fmt: skip


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- arithmetic -------------------------------------------------------------------------------


def test_arithmetic_problems_are_deterministic_and_nested() -> None:
    first = arithmetic_problems(12, seed=3)
    assert first == arithmetic_problems(12, seed=3)
    assert arithmetic_problems(20, seed=3)[:12] == first  # a larger size extends a smaller one
    assert arithmetic_problems(12, seed=4) != first
    assert len({p["id"] for p in first}) == 12


def _solve(question: str) -> int:
    """The answer worked out from the question's own words."""
    numbers = [int(n) for n in re.findall(r"\d+", question)]
    if "buys" in question:
        return numbers[0] + numbers[1]
    if "gave" in question:
        return numbers[0] - numbers[1]
    if "fills" in question:
        return numbers[0] * numbers[1]
    return numbers[0] + numbers[1] - numbers[2]  # finds b more, then gives c away


def test_arithmetic_answers_are_right_and_positive_integers() -> None:
    problems = arithmetic_problems(200, seed=0)
    kinds = {p["prompt"].split(" ")[1] for p in problems}
    assert {"has", "had", "fills"} <= kinds  # every template is used
    for problem in problems:
        assert int(problem["answer"]) == _solve(problem["prompt"]) > 0


def test_an_arithmetic_task_loads_its_size() -> None:
    records = load_task("arith", TaskConfig(source="arithmetic", size=5, seed=1))
    assert records == arithmetic_problems(5, 1)


# --- jsonl ------------------------------------------------------------------------------------


def test_a_gsm8k_file_loads_with_the_default_fields(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS)
    records = load_task("gsm8k", TaskConfig(source="jsonl", path=str(path)))
    assert [r["prompt"] for r in records] == [r["question"] for r in GSM8K_ROWS]
    assert records[0]["answer"].endswith("#### 72")
    assert [r["id"] for r in records] == ["gsm8k-0", "gsm8k-1"]


def test_size_takes_the_first_problems_and_ids_are_kept(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "question": f"What is {i}+1?", "answer": str(i + 1)} for i in range(5)]
    path = _jsonl(tmp_path / "t.jsonl", rows)
    records = load_task("t", TaskConfig(source="jsonl", path=str(path), size=2))
    assert [r["id"] for r in records] == ["q0", "q1"]


def test_numeric_answers_are_read_as_text(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", [{"q": "2+2?", "a": 4}])
    task = TaskConfig(source="jsonl", path=str(path), prompt_field="q", answer_field="a")
    assert load_task("t", task)[0]["answer"] == "4"


def test_a_line_that_is_not_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GSM8K_ROWS[0]) + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}, line 3: not valid JSON"):
        load_task("bad", TaskConfig(source="jsonl", path=str(path)))


def test_a_missing_field_names_the_file_line_and_setting(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", [GSM8K_ROWS[0], {"question": "Where is the answer?"}])
    with pytest.raises(UserError, match=r"line 2: no answer under 'answer'.*answer_field"):
        load_task("t", TaskConfig(source="jsonl", path=str(path)))
    with pytest.raises(UserError, match=r"line 1: no text under 'prompt'.*tasks.t.prompt_field"):
        load_task("t", TaskConfig(source="jsonl", path=str(path), prompt_field="prompt"))


def test_answers_the_scorer_cannot_read_are_refused_on_load(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", GSM8K_ROWS)
    with pytest.raises(UserError, match=r"line 1: .* is not a letter A-E.*choice scorer"):
        load_task("t", TaskConfig(source="jsonl", path=str(path), scorer="choice"))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(UserError, match="holds no problems"):
        load_task("empty", TaskConfig(source="jsonl", path=str(path)))


# --- hf ---------------------------------------------------------------------------------------


def test_a_saved_hf_dataset_loads_its_split(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "gsm8k"
    splits = {"test": datasets.Dataset.from_list(GSM8K_ROWS)}
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    records = load_task("gsm8k", TaskConfig(source="hf", dataset=str(folder), split="test"))
    assert [r["answer"][-2:] for r in records] == ["72", "10"]
    with pytest.raises(UserError, match=r"no split 'train'.*evaluation.tasks.gsm8k.split"):
        load_task("gsm8k", TaskConfig(source="hf", dataset=str(folder), split="train"))


# --- the fingerprint --------------------------------------------------------------------------


def test_the_fingerprint_follows_content_not_path(tmp_path: Path) -> None:
    a = _jsonl(tmp_path / "a.jsonl", GSM8K_ROWS)
    b = _jsonl(tmp_path / "b.jsonl", GSM8K_ROWS)
    c = _jsonl(tmp_path / "c.jsonl", GSM8K_ROWS[:1])

    def fingerprint(path: Path) -> str:
        return tasks_fingerprint({"gsm8k": TaskConfig(source="jsonl", path=str(path))})

    assert fingerprint(a) == fingerprint(b) != fingerprint(c)
    hub = {"gsm8k": TaskConfig(source="hf", dataset="openai/gsm8k")}
    assert tasks_fingerprint(hub) != fingerprint(a)  # a hub name is not loaded while planning
