"""Behaviour of the Hugging Face datasets source on datasets built and saved in tmp_path.

The hub case (a dataset name downloaded from huggingface.co) is not exercised: no hub is
reachable here. Its failure path is: an unresolvable name in offline mode must be a UserError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import huggingface_hub.constants
import pytest

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record
from ablate.data.sources.hf import build_hf
from ablate.errors import UserError

ROWS = {"prompt": ["P1", "P2", "P3"], "response": ["R1", None, "R3"], "source": ["a", "b", "a"]}


@pytest.fixture(autouse=True)
def _offline_and_private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # load_dataset caches what it prepares; keep that out of the user's ~/.cache. Offline mode
    # makes any accidental hub request fail at once instead of retrying for half a minute. The
    # libraries read these settings at import, so the module constants are patched as well.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def _build(dataset: str, mode: str = "train", **settings: Any) -> tuple[list[Record], BuildStats]:
    # mode is the builder's split argument (train / eval); settings may set the pool's split.
    stats = BuildStats()
    pool = PoolConfig(source="hf", dataset=dataset, **settings)
    return list(build_hf(pool, mode, stats)), stats


def _saved_dict(tmp_path: Path) -> Path:
    folder = tmp_path / "dict"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(ROWS),
            "test": datasets.Dataset.from_dict({"prompt": ["T1"], "response": ["U1"]}),
        }
    ).save_to_disk(str(folder))
    return folder


def test_saved_dataset_gives_records_and_counts(tmp_path: Path) -> None:
    folder = tmp_path / "single"
    datasets.Dataset.from_dict(ROWS).save_to_disk(str(folder))
    records, stats = _build(str(folder))
    assert records == [
        {"id": "single-0", "prompt": "P1", "response": "R1", "source": "a"},
        {"id": "single-2", "prompt": "P3", "response": "R3", "source": "a"},
    ]
    assert stats.seen == 3 and stats.removed == {"no_response": 1}
    assert stats.kept_by_group == {"a": 2}
    # Evaluation prompts may lack a response.
    records, _ = _build(str(folder), mode="eval")
    assert [r["prompt"] for r in records] == ["P1", "P2", "P3"] and "response" not in records[1]


def test_saved_dataset_dict_picks_the_split(tmp_path: Path) -> None:
    folder = _saved_dict(tmp_path)
    records, stats = _build(str(folder), split="test")
    assert records == [{"id": "dict-test-0", "prompt": "T1", "response": "U1"}]
    assert stats.kept_by_group == {"test": 1}
    assert len(_build(str(folder))[0]) == 2


def test_missing_split_names_dataset_split_and_setting(tmp_path: Path) -> None:
    folder = _saved_dict(tmp_path)
    with pytest.raises(UserError) as err:
        _build(str(folder), split="validation")
    message = str(err.value)
    assert str(folder) in message and "'validation'" in message and "train, test" in message
    assert "pools.<name>.split" in message


def test_missing_columns_name_the_column_and_setting(tmp_path: Path) -> None:
    folder = tmp_path / "qa"
    datasets.Dataset.from_dict({"question": ["Q"], "answer": ["A"]}).save_to_disk(str(folder))
    with pytest.raises(UserError, match=r"no column 'prompt'.*question, answer.*prompt_field"):
        _build(str(folder))
    with pytest.raises(UserError, match=r"no column 'response'.*response_field"):
        _build(str(folder), prompt_field="question")
    # Without responses the columns are still fine for evaluation prompts.
    assert _build(str(folder), mode="eval", prompt_field="question")[0][0]["prompt"] == "Q"
    records, _ = _build(str(folder), prompt_field="question", response_field="answer")
    assert records[0]["response"] == "A"


def test_chat_style_columns_become_turns(tmp_path: Path) -> None:
    messages = [
        [
            {"role": "system", "content": "Be nice."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Joke?"},
            {"role": "assistant", "content": "No."},
        ],
        [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"},
            {"role": "user", "content": "Q2"},
        ],
    ]
    folder = tmp_path / "chat"
    datasets.Dataset.from_dict({"messages": messages}).save_to_disk(str(folder))
    records, stats = _build(str(folder), prompt_field="messages")
    assert records[0]["turns"] == ["Hi", "Hello", "Joke?", "No."]
    assert records[0]["prompt"] == "Hi" and records[0]["response"] == "Hello"
    assert records[1] == {"id": "chat-1", "prompt": "Q", "response": "A"}
    assert stats.notes["system_turns_dropped"] == 1
    assert stats.notes["trailing_user_turns_dropped"] == 1


def test_lima_style_string_lists_become_turns(tmp_path: Path) -> None:
    folder = tmp_path / "lima"
    rows = {"conversations": [["Q", "A"], ["a", "b", "c", "d"]], "source": ["nlp", "multi_turn"]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(folder))
    records, stats = _build(str(folder), prompt_field="conversations")
    assert records[1]["turns"] == ["a", "b", "c", "d"] and "turns" not in records[0]
    assert stats.kept_by_group == {"nlp": 1, "multi_turn": 1}


def test_local_data_folder_and_file_load_through_load_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    lines = [json.dumps({"prompt": f"P{i}", "response": f"R{i}"}) for i in range(3)]
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    records, _ = _build(str(folder))
    assert [r["prompt"] for r in records] == ["P0", "P1", "P2"]
    records, _ = _build(str(folder / "train.jsonl"), mode="eval", split="eval")
    assert [r["response"] for r in records] == ["R0", "R1", "R2"]
    with pytest.raises(UserError, match=r"no split 'test'.*pools.<name>.split"):
        _build(str(folder), split="test")


def test_unreachable_hub_is_a_user_error() -> None:
    name = "no-such-owner-xyz/no-such-dataset-xyz"
    with pytest.raises(UserError) as err:
        _build(name)
    message = str(err.value)
    assert name in message and "cannot be reached" in message and "pools.<name>.dataset" in message


def test_missing_local_path_and_missing_dataset_setting(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file or folder"):
        _build(str(tmp_path / "absent"))
    with pytest.raises(UserError, match=r"set pools.<name>.dataset"):
        list(build_hf(PoolConfig(source="hf"), "train", BuildStats()))
