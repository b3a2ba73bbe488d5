"""The conversations of evaluation.dialogues: a JSONL file, one conversation a line,
{"id": ..., "turns": [the user's messages, in order]}, or the project's own small set; and the
fingerprint of their content that keys the generate stage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

from ablate.config.schema import DialoguesConfig
from ablate.data.build import json_object
from ablate.errors import UserError
from ablate.files import stable_hash

# Bump when continuing or judging conversations changes what their rows say: it is part of
# the fingerprint, so trials with dialogues generate again and others keep their keys.
DIALOGUES_VERSION = 1
# Ten short conversations of our own, 3-4 user turns each, whose later turns lean on the
# earlier replies ("make it shorter", "which of those..."): a stand-in for LIMA's, not them.
BUILTIN_DIALOGUES = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "dialogues.jsonl"


class Conversation(TypedDict):
    id: str
    turns: list[str]  # the user's messages; the model writes the turns between them


def dialogues_path(cfg: DialoguesConfig) -> Path:
    return Path(cfg.path) if cfg.path is not None else BUILTIN_DIALOGUES


def _turns(row: dict[str, Any], where: str) -> list[str]:
    turns = row.get("turns")
    if (
        not isinstance(turns, list)
        or not turns
        or not all(isinstance(t, str) and t.strip() for t in turns)
    ):
        raise UserError(
            f"{where}: 'turns' must be a non-empty list of the user's messages (non-empty "
            'strings), e.g. {"id": "trip", "turns": ["Plan a day in Rome.", "Make it cheaper."]}'
        )
    return list(turns)


def _rows(path: Path) -> Iterator[tuple[dict[str, Any], int]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield json_object(line, path, number), number
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the dialogues file ({exc}).") from None


def load_dialogues(cfg: DialoguesConfig) -> list[Conversation]:
    """The conversations in file order, each cut to its first max_turns user turns, the first
    max_conversations of them."""
    path = dialogues_path(cfg)
    conversations: list[Conversation] = []
    seen: set[str] = set()
    for row, number in _rows(path):
        if cfg.max_conversations is not None and len(conversations) >= cfg.max_conversations:
            break
        where = f"{path}, line {number}"
        conversation_id = str(row.get("id", f"{path.stem}-{number}"))
        if conversation_id in seen:  # ids group a conversation's turns for the intervals
            raise UserError(f"{where}: id '{conversation_id}' is used twice; give each its own.")
        seen.add(conversation_id)
        turns = _turns(row, where)[: cfg.max_turns]
        conversations.append({"id": conversation_id, "turns": turns})
    if not conversations:
        raise UserError(f"{path}: evaluation.dialogues holds no conversation.")
    return conversations


def dialogues_fingerprint(cfg: DialoguesConfig) -> str:
    """What the conversations are (their content, wherever the file is). Loading them here
    also refuses a bad file while planning, before any trial trains."""
    return stable_hash([DIALOGUES_VERSION, load_dialogues(cfg)])
