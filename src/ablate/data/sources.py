"""Pool sources by plain name (principle 8). A source turns a PoolConfig into records.

A record is a dict with "id", "prompt" and, for training pools and references, "response".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from ablate.config.schema import PoolConfig
from ablate.errors import UserError
from ablate.registry import Registry

Record = dict[str, str]
# (pool, split) -> records; split is "train" for training pools, "eval" for evaluation prompts.
SourceLoader = Callable[[PoolConfig, str], list[Record]]

POOL_SOURCES: Registry[SourceLoader] = Registry("pool source")
# Bump when the synthetic generator's output changes, so trial ids (and cached results) change.
SYNTHETIC_VERSION = "1"


@POOL_SOURCES.register("synthetic")
def load_synthetic(pool: PoolConfig, split: str) -> list[Record]:
    from ablate.data.synthetic import synthetic_records

    return synthetic_records(pool.size, pool.seed, split=split)


def _text(value: object) -> str | None:
    # LIMA's files hold a turn list under "conversations"; the first turn is the prompt.
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _jsonl_record(line: str, path: Path, number: int, pool: PoolConfig) -> Record:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}, line {number}: not valid JSON ({exc.msg}).") from None
    if not isinstance(row, dict):
        raise UserError(f"{path}, line {number}: expected a JSON object per line.")
    prompt = _text(row.get(pool.prompt_field))
    if prompt is None:
        raise UserError(
            f"{path}, line {number}: no text under '{pool.prompt_field}' "
            "(set prompt_field to the key that holds the prompt)."
        )
    record = {"id": str(row.get("id", f"{path.stem}-{number}")), "prompt": prompt}
    response = row.get(pool.response_field)
    if isinstance(response, str):
        record["response"] = response
    return record


@POOL_SOURCES.register("jsonl")
def load_jsonl(pool: PoolConfig, split: str) -> list[Record]:
    path = Path(pool.path or "")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the pool file ({exc}).") from None
    return [_jsonl_record(x, path, i, pool) for i, x in enumerate(lines, 1) if x.strip()]


def load_pool(pool: PoolConfig, split: str = "train") -> list[Record]:
    return POOL_SOURCES.get(pool.source)(pool, split)


def evaluation_records(pool: PoolConfig, max_prompts: int | None) -> list[Record]:
    records = load_pool(pool, split="eval")
    return records if max_prompts is None else records[:max_prompts]


def training_records(pool: PoolConfig) -> list[Record]:
    records = load_pool(pool)
    missing = [r["id"] for r in records if "response" not in r]
    if missing:
        raise UserError(
            f"pool {pool.path or pool.source}: {len(missing)} record(s) have no "
            f"'{pool.response_field}' to train on (first: {missing[0]})."
        )
    return records


def pool_fingerprint(pool: PoolConfig) -> str:
    """What identifies a pool's content: a file's bytes, not where the file sits."""
    if pool.source == "jsonl" and pool.path:
        try:
            digest = hashlib.sha256(Path(pool.path).read_bytes()).hexdigest()
        except OSError as exc:
            raise UserError(f"{pool.path}: cannot read the pool file ({exc}).") from None
        return f"jsonl:{digest}:{pool.prompt_field}:{pool.response_field}"
    return f"{pool.source}:v{SYNTHETIC_VERSION}:{pool.size}:{pool.seed}"


def fingerprints(
    pools: dict[str, PoolConfig], evaluation: PoolConfig
) -> tuple[dict[str, str], str]:
    return {name: pool_fingerprint(p) for name, p in pools.items()}, pool_fingerprint(evaluation)
