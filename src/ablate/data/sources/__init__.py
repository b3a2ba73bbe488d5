"""Pool sources by plain name (CONTRIBUTING.md, principle 8). A source streams a PoolConfig's
records.

A record is a dict with "id", "prompt" and, for training pools and references, "response"
(multi-turn records also carry "turns"). Each source is one module with a `SOURCE` spec
(ablate.data.sources.spec); it is imported only when used (some are heavy).
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record
from ablate.data.sources.spec import PoolSource
from ablate.errors import UserError
from ablate.registry import Registry

POOL_SOURCES: Registry[str] = Registry("pool source")
for _name, _module in (
    ("synthetic", "ablate.data.sources.synthetic"),
    ("addition", "ablate.data.sources.addition"),
    ("jsonl", "ablate.data.sources.jsonl"),
    ("stackexchange", "ablate.data.sources.stackexchange"),
    ("wikihow", "ablate.data.sources.wikihow"),
    ("lima", "ablate.data.sources.lima"),
    ("hf", "ablate.data.sources.hf"),
):
    POOL_SOURCES.register(_name)(_module)


def source(name: str) -> PoolSource:
    """The spec of a registered source (a UserError with "did you mean" for another name)."""
    spec: PoolSource = importlib.import_module(POOL_SOURCES.get(name)).SOURCE
    return spec


def pool_problems(path: str, pool: PoolConfig) -> list[str]:
    """Everything a pool's source knows to be wrong with its settings, at their dotted paths."""
    problem = POOL_SOURCES.problem(pool.source)
    if problem:
        return [f"{path}.source: {problem}"]
    return source(pool.source).problems(path, pool)


def load_pool(pool: PoolConfig, split: str = "train") -> list[Record]:
    """All records of a source, in memory (evaluation prompts, direct training sources)."""
    with tempfile.TemporaryDirectory(prefix="ablate-source-") as work_dir:
        return list(source(pool.source).build(pool, split, BuildStats(), Path(work_dir)))


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
