"""A JSONL file of prompt/response records (field names are settings) as a pool source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record, json_object
from ablate.data.sources.spec import PoolSource
from ablate.errors import UserError


def _text(value: object) -> str | None:
    # LIMA's files hold a turn list under "conversations"; the first turn is the prompt.
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _jsonl_record(line: str, path: Path, number: int, pool: PoolConfig) -> Record:
    row = json_object(line, path, number, ".")
    prompt = _text(row.get(pool.prompt_field))
    if prompt is None:
        raise UserError(
            f"{path}, line {number}: no text under '{pool.prompt_field}' "
            "(set prompt_field to the key that holds the prompt)."
        )
    record: Record = {"id": str(row.get("id", f"{path.stem}-{number}")), "prompt": prompt}
    response = row.get(pool.response_field)
    if isinstance(response, str):
        record["response"] = response
    return record


def build_jsonl(
    pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path
) -> Iterator[Record]:
    path = Path(pool.path or "")
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    stats.seen += 1
                    stats.kept_by_group[path.name] += 1
                    yield _jsonl_record(line, path, number, pool)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the pool file ({exc}).") from None


SOURCE = PoolSource(
    "jsonl", build_jsonl, settings=("prompt_field", "response_field"), path_kind="file", direct=True
)
