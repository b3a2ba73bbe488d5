"""evaluation.tasks in a sweep file: relative paths, and every problem at its dotted path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ablate.config.load import load_config
from ablate.errors import ConfigError

EXPERIMENT: dict[str, Any] = {
    "model": {"name_or_path": "builtin:tiny"},
    "pools": {"synthetic": {"source": "synthetic", "size": 200, "seed": 0}},
    "judge": {"model": "builtin:tiny"},
}


def sweep_with(folder: Path, tasks: dict[str, Any]) -> Path:
    (folder / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT), encoding="utf-8")
    sweep = {
        "name": "unit",
        "experiment": "exp.yaml",
        "sweep": {"arms": {"a": {"pool": "synthetic"}}, "sizes": [16], "seeds": [0]},
        "evaluation": {"tasks": tasks},
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def problems(folder: Path, tasks: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(sweep_with(folder, tasks))
    return info.value.problems


def test_a_task_file_is_relative_to_the_sweep_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    row = {"question": "2+2?", "answer": "#### 4"}
    (tmp_path / "data" / "gsm8k.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    tasks = {"gsm8k": {"source": "jsonl", "path": "data/gsm8k.jsonl"}, "arith": {
        "source": "arithmetic", "size": 8}}  # fmt: skip
    config = load_config(sweep_with(tmp_path, tasks))
    task = config.evaluation.tasks["gsm8k"]
    assert task.path == str((tmp_path / "data" / "gsm8k.jsonl").resolve())
    assert (task.scorer, task.decoding, task.prompt_field) == ("exact_number", "greedy", "question")
    assert config.evaluation.tasks["arith"].size == 8


def test_an_unknown_scorer_is_named_with_a_suggestion(tmp_path: Path) -> None:
    task = {"source": "arithmetic", "size": 4, "scorer": "exact_numbr"}
    found = problems(tmp_path, {"arith": task})
    assert found == [
        "evaluation.tasks.arith.scorer: 'exact_numbr' is not one of ['choice', 'contains', "
        "'exact_number', 'regex']. Did you mean 'exact_number'?"
    ]


def test_a_regex_scorer_needs_a_pattern_that_compiles(tmp_path: Path) -> None:
    task = {"source": "arithmetic", "size": 4, "scorer": "regex"}
    assert problems(tmp_path, {"t": task}) == [
        "evaluation.tasks.t.pattern: the regex scorer needs a pattern"
    ]
    found = problems(tmp_path, {"t": task | {"pattern": "(unclosed"}})
    assert len(found) == 1 and found[0].startswith("evaluation.tasks.t.pattern: not a regular")


def test_a_pattern_without_the_regex_scorer_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, {"t": {"source": "arithmetic", "size": 4, "pattern": "(\\d+)"}})
    assert len(found) == 1 and found[0].startswith("evaluation.tasks.t.pattern: only the regex")


@pytest.mark.parametrize("name", ["gsm-8k", "my task", "ö"])
def test_a_task_name_must_be_letters_digits_or_underscores(tmp_path: Path, name: str) -> None:
    found = problems(tmp_path, {name: {"source": "arithmetic", "size": 4}})
    assert found == [
        f"evaluation.tasks.{name}: '{name}' must be letters, digits or '_' only "
        "(it names the task's metrics)"
    ]


def test_source_settings_are_checked(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "a": {"source": "arithmetc"},
            "b": {"source": "arithmetic"},
            "c": {"source": "jsonl"},
            "d": {"source": "jsonl", "path": "missing.jsonl"},
            "e": {"source": "hf"},
            "f": {"source": "arithmetic", "size": 0, "seed": -1},
        },
    )
    assert sorted(p.split(":")[0] for p in found) == [
        "evaluation.tasks.a.source",
        "evaluation.tasks.b.size",
        "evaluation.tasks.c.path",
        "evaluation.tasks.d.path",
        "evaluation.tasks.e.dataset",
        "evaluation.tasks.f.seed",
        "evaluation.tasks.f.size",
    ]
    assert "Did you mean 'arithmetic'?" in found[0]


def test_decoding_settings_are_checked(tmp_path: Path) -> None:
    base = {"source": "arithmetic", "size": 4}
    found = problems(
        tmp_path,
        {
            "a": base | {"decoding": "beam"},
            "b": base | {"samples": 3},  # greedy gives one response
            "c": base | {"decoding": "sampled", "samples": 0},
            "d": base | {"max_new_tokens": 0},
        },
    )
    assert [p.split(":")[0] for p in found] == [
        "evaluation.tasks.a.decoding",
        "evaluation.tasks.b.samples",
        "evaluation.tasks.c.samples",
        "evaluation.tasks.d.max_new_tokens",
    ]


def test_an_unknown_task_key_is_named(tmp_path: Path) -> None:
    found = problems(tmp_path, {"t": {"source": "arithmetic", "size": 4, "scorrer": "choice"}})
    assert len(found) == 1 and "evaluation.tasks.t.scorrer" in found[0]


def test_an_addition_task_is_generated_and_holds_at_most_the_100_facts(tmp_path: Path) -> None:
    config = load_config(sweep_with(tmp_path, {"add": {"source": "addition", "size": 100}}))
    assert config.evaluation.tasks["add"].size == 100
    found = problems(
        tmp_path,
        {
            "a": {"source": "addition", "size": 101},
            "b": {"source": "addition"},
            "c": {"source": "addition", "size": 4, "path": "facts.jsonl"},
            "d": {"source": "additon", "size": 4},
        },
    )
    assert found[0] == (
        "evaluation.tasks.a.size: the addition table holds 100 facts (0 + 0 to 9 + 9), got 101"
    )
    assert [p.split(":")[0] for p in found[1:]] == [
        "evaluation.tasks.b.size",
        "evaluation.tasks.c",
        "evaluation.tasks.d.source",
    ]
    assert "Did you mean 'addition'?" in found[3]
