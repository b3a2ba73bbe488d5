"""evaluation.dialogues' conversations: the built-in set, a user's file, the limits, and a bad
file refused with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ablate.config.schema import DialoguesConfig
from ablate.dialogues.sets import BUILTIN_DIALOGUES, dialogues_fingerprint, load_dialogues
from ablate.errors import UserError


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_builtin_set_is_small_and_multi_turn() -> None:
    conversations = load_dialogues(DialoguesConfig())
    assert BUILTIN_DIALOGUES.is_file() and 8 <= len(conversations) <= 12
    assert len({c["id"] for c in conversations}) == len(conversations)
    assert all(3 <= len(c["turns"]) <= 4 for c in conversations)


def test_limits_cut_turns_and_conversations(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [{"id": "a", "turns": ["1", "2", "3"]}, {"turns": ["x"]}])
    assert load_dialogues(DialoguesConfig(path=str(path))) == [
        {"id": "a", "turns": ["1", "2", "3"]},
        {"id": "d-2", "turns": ["x"]},  # no id: the file's stem and line
    ]
    cut = load_dialogues(DialoguesConfig(path=str(path), max_turns=2, max_conversations=1))
    assert cut == [{"id": "a", "turns": ["1", "2"]}]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"id": "a", "turns": []}], "line 1: 'turns' must be a non-empty list"),
        ([{"id": "a", "turns": ["ok", ""]}], "line 1: 'turns' must be a non-empty list"),
        ([{"id": "a", "prompt": "hi"}], "line 1: 'turns' must be a non-empty list"),
        ([{"id": "a", "turns": ["x"]}, {"id": "a", "turns": ["y"]}], "line 2: id 'a' is used"),
        ([], "holds no conversation"),
    ],
)
def test_a_bad_file_is_refused_with_its_line(
    tmp_path: Path, rows: list[object], message: str
) -> None:
    path = write(tmp_path / "d.jsonl", rows)
    with pytest.raises(UserError, match=message):
        load_dialogues(DialoguesConfig(path=str(path)))


def test_the_fingerprint_is_the_content_not_the_path(tmp_path: Path) -> None:
    rows = [{"id": "a", "turns": ["hello", "again"]}]
    one = write(tmp_path / "one.jsonl", rows)
    two = write(tmp_path / "two.jsonl", rows)
    other = write(tmp_path / "other.jsonl", [{"id": "a", "turns": ["hello", "later"]}])
    fp = dialogues_fingerprint
    assert fp(DialoguesConfig(path=str(one))) == fp(DialoguesConfig(path=str(two)))
    assert fp(DialoguesConfig(path=str(one))) != fp(DialoguesConfig(path=str(other)))
    assert fp(DialoguesConfig(path=str(one))) != fp(DialoguesConfig(path=str(one), max_turns=1))
