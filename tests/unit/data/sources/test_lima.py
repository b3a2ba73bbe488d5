"""Behaviour of the LIMA-format source: single and multi-turn rows, the test file, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record
from ablate.data.sources.lima import build_lima
from ablate.errors import UserError

LIMA_TEST = Path(__file__).parents[5] / "shared" / "data" / "lima_test.jsonl"


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _build(path: Path, split: str = "train") -> tuple[list[Record], BuildStats]:
    stats = BuildStats()
    return list(build_lima(PoolConfig(source="lima", path=str(path)), split, stats)), stats


def test_single_and_multi_turn_rows(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "train.jsonl",
        [
            {"conversations": ["Q?", "A."], "source": "stackexchange"},
            {"conversations": ["Hi", "Hello", "More?", "Sure."], "source": "multi_turn"},
        ],
    )
    records, stats = _build(path)
    assert records[0] == {
        "id": "train-1",
        "prompt": "Q?",
        "response": "A.",
        "source": "stackexchange",
    }
    assert records[1]["prompt"] == "Hi" and records[1]["response"] == "Hello"
    assert records[1]["turns"] == ["Hi", "Hello", "More?", "Sure."]
    assert stats.seen == 2 and stats.kept_by_group == {"stackexchange": 1, "multi_turn": 1}


def test_trailing_user_turn_is_dropped_in_training_and_noted(tmp_path: Path) -> None:
    rows = [{"conversations": ["Hi", "Hello", "Bye?"], "source": "multi_turn"}]
    records, stats = _build(_write(tmp_path / "t.jsonl", rows))
    assert records[0]["response"] == "Hello" and "turns" not in records[0]
    assert stats.notes["trailing_user_turns_dropped"] == 1
    # Evaluation keeps it: the last user turn is what the model must answer.
    records, _ = _build(_write(tmp_path / "e.jsonl", rows), split="eval")
    assert records[0]["turns"] == ["Hi", "Hello", "Bye?"]


def test_rows_without_reply_or_text_are_counted(tmp_path: Path) -> None:
    rows = [
        {"conversations": ["Q?", "A."]},
        {"conversations": ["Only a question"]},
        {"conversations": "A bare prompt"},
        {"conversations": ["Q?", "  "]},
        {"conversations": []},
        {"conversations": ["", "A."]},
        {"conversations": ["a", "", "c", "d"]},
    ]
    records, stats = _build(_write(tmp_path / "t.jsonl", rows))
    assert [r["prompt"] for r in records] == ["Q?"]
    assert stats.removed == {"no_response": 3, "empty": 3}
    assert stats.kept_by_group == {"unknown": 1}
    assert stats.seen - sum(stats.removed.values()) == len(records)


def test_eval_split_keeps_prompts_without_reply(tmp_path: Path) -> None:
    rows = [
        {"conversations": "Write a poem."},
        {"conversations": ["Q?"]},
        {"conversations": ["Q2?", "A."]},
    ]
    records, stats = _build(_write(tmp_path / "e.jsonl", rows), split="eval")
    assert [r["prompt"] for r in records] == ["Write a poem.", "Q?", "Q2?"]
    assert "response" not in records[0] and records[2]["response"] == "A."
    assert sum(stats.removed.values()) == 0


@pytest.mark.parametrize("value", [[1, 2], {"a": "b"}, None, ["ok", ["nested"]]])
def test_conversations_not_a_list_of_strings_names_file_and_line(
    tmp_path: Path, value: Any
) -> None:
    path = _write(tmp_path / "t.jsonl", [{"conversations": ["Q?", "A."]}, {"conversations": value}])
    with pytest.raises(UserError, match=rf"{path.name}, line 2: 'conversations' must be a list"):
        _build(path)


def test_bad_lines_are_user_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"conversations": ["Q", "A"]}\n{broken\n')
    with pytest.raises(UserError, match=r"line 2: not valid JSON"):
        _build(path)
    path.write_text('{"prompt": "Q"}\n')
    with pytest.raises(UserError, match=r"line 1: no 'conversations' key \(keys: prompt\)"):
        _build(path)
    with pytest.raises(UserError, match="no such LIMA file"):
        _build(tmp_path / "absent.jsonl")


@pytest.mark.skipif(not LIMA_TEST.is_file(), reason=f"{LIMA_TEST} is not present")
def test_lima_test_file_gives_300_prompts() -> None:
    records, stats = _build(LIMA_TEST, split="eval")
    assert len(records) == 300 and stats.seen == 300
    assert all(r["prompt"].strip() and "response" not in r for r in records)
    assert len({r["id"] for r in records}) == 300
