"""The JSONL format LIMA's data was released in (GAIR/lima: train.jsonl, test.jsonl).

Each line is an object with "conversations" and usually "source" ("stackexchange", "wikihow",
"multi_turn", "nlp", ...). In the training file "conversations" is a list of alternating turns,
user first; in the test file it is a single string, the prompt, with no reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record, json_object
from ablate.data.sources.spec import PoolSource
from ablate.errors import UserError

CONVERSATIONS = "conversations"
UNKNOWN_SOURCE = "unknown"  # the group for rows without a "source"


def turns_record(record_id: str, turns: list[str], split: str, stats: BuildStats) -> Record | None:
    """A record from alternating turns (user first), or None if it fails a rule.

    Shared with the hf source, whose chat-style columns hold the same turn lists."""
    if split == "train" and len(turns) % 2 == 1 and len(turns) > 1:
        # A trailing user turn has no reply to learn from; the turns before it still do.
        turns = turns[:-1]
        notes = stats.notes.setdefault("trailing_user_turns_dropped", 0)
        stats.notes["trailing_user_turns_dropped"] = notes + 1
    if not turns or not turns[0].strip():
        stats.drop("empty")  # no prompt to answer
        return None
    if len(turns) == 2 and not turns[1].strip():
        turns = turns[:1]  # an empty reply is no reply
    if split == "train" and len(turns) < 2:
        stats.drop("no_response")
        return None
    if any(not t.strip() for t in turns[1:]):
        stats.drop("empty")  # an empty turn inside a dialogue breaks its alternation
        return None
    record: Record = {"id": record_id, "prompt": turns[0]}
    if len(turns) > 1:
        record["response"] = turns[1]
    if len(turns) > 2:  # multi-turn: the chat template needs every turn
        record["turns"] = list(turns)
    return record


def _turns(value: Any, path: Path, line: int) -> list[str]:
    # The test file holds the prompt as a bare string: one user turn, no reply.
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return value
    raise UserError(
        f"{path}, line {line}: '{CONVERSATIONS}' must be a list of strings (alternating user "
        f"and assistant turns) or a single prompt string, not {type(value).__name__}"
        + (" with non-string items" if isinstance(value, list) else "")
        + "; fix the line or point pools.<name>.path at a LIMA-format file."
    )


def _parse(line: str, path: Path, number: int) -> dict[str, Any]:
    row = json_object(line, path, number, "; a LIMA file holds one JSON object per line.")
    if CONVERSATIONS not in row:
        raise UserError(
            f"{path}, line {number}: no '{CONVERSATIONS}' key (keys: {', '.join(row) or 'none'})"
            "; a lima pool needs LIMA's format (use source: jsonl for prompt/response files)."
        )
    return row


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, line
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the LIMA file ({exc}).") from None


def build_lima(pool: PoolConfig, split: str, stats: BuildStats) -> Iterator[Record]:
    """Records from a LIMA-format JSONL file, streaming, in file order."""
    path = Path(pool.path or "")
    if not pool.path or not path.is_file():
        raise UserError(f"{path}: no such LIMA file (set pools.<name>.path).")
    for number, line in _lines(path):
        row = _parse(line, path, number)
        stats.seen += 1
        turns = _turns(row[CONVERSATIONS], path, number)
        record = turns_record(str(row.get("id", f"{path.stem}-{number}")), turns, split, stats)
        if record is None:
            continue
        source = row.get("source")
        group = source if isinstance(source, str) and source else UNKNOWN_SOURCE
        record["source"] = group
        stats.kept_by_group[group] += 1
        yield record


SOURCE = PoolSource(
    "lima",
    lambda pool, split, stats, work_dir: build_lima(pool, split, stats),
    path_kind="file",
    external=True,
)
