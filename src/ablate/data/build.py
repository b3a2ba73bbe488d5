"""What every pool source builder reports while it streams records: what it kept and why it
dropped the rest. The pool manifest shows these counts (`ablate data inspect`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate.errors import UserError

Record = dict[str, Any]  # "id", "prompt", "response" (str), plus source facts ("site", ...)
# How the warning about a pool with no records starts, whoever records it (a source builder
# with its reasons, or manifest_warnings from the record count), so it is given once.
EMPTY_POOL = "the pool has 0 records"


@dataclass
class BuildStats:
    seen: int = 0  # candidate records the source looked at (e.g. questions with an answer)
    # rule name -> records that rule removed. Rules apply in a fixed order and a record is
    # counted under the first rule it fails, so the counts add up to seen - kept.
    removed: Counter[str] = field(default_factory=Counter)
    # group (site, category, source) -> records kept in the pool
    kept_by_group: Counter[str] = field(default_factory=Counter)
    # anything else worth recording (rules that were switched on, sampling weights, ...)
    notes: dict[str, Any] = field(default_factory=dict)
    # what a reader must see before using the pool: a source file that added nothing, a pool
    # with no records (`ablate data prepare` prints these; `ablate data inspect` shows them)
    warnings: list[str] = field(default_factory=list)

    def drop(self, rule: str) -> None:
        self.removed[rule] += 1

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "removed": dict(sorted(self.removed.items())),
            "kept_by_group": dict(sorted(self.kept_by_group.items())),
            "notes": self.notes,
            "warnings": list(self.warnings),
        }


def json_object(line: str, path: Path, number: int, hint: str = "") -> dict[str, Any]:
    """One line of a JSONL file as an object, or a UserError naming the file and the line."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}, line {number}: not valid JSON ({exc.msg}){hint}") from None
    if not isinstance(row, dict):
        raise UserError(f"{path}, line {number}: expected a JSON object per line.")
    return row
