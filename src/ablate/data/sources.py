"""Pool sources by plain name (principle 8). A source streams a PoolConfig's records.

A record is a dict with "id", "prompt" and, for training pools and references, "response"
(multi-turn records also carry "turns"). Builders report what they dropped in a BuildStats.
Heavy sources import their module only when used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record, json_object
from ablate.errors import UserError
from ablate.registry import Registry

# (pool, split, stats, work_dir) -> records; split is "train" for training pools and "eval" for
# evaluation prompts; work_dir is scratch space that is deleted afterwards.
SourceBuilder = Callable[[PoolConfig, str, BuildStats, Path], Iterator[Record]]

POOL_SOURCES: Registry[SourceBuilder] = Registry("pool source")
# Sources whose records can be read in a moment (no preparation worth caching for planning).
DIRECT_SOURCES = ("synthetic", "jsonl")


@POOL_SOURCES.register("synthetic")
def build_synthetic(
    pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path
) -> Iterator[Record]:
    from ablate.data.synthetic import synthetic_records

    for record in synthetic_records(pool.size or 0, pool.seed, split=split):
        stats.seen += 1
        stats.kept_by_group[record["topic"]] += 1
        yield record


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


@POOL_SOURCES.register("jsonl")
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


@POOL_SOURCES.register("stackexchange")
def _stackexchange(
    pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path
) -> Iterator[Record]:
    from ablate.data.stackexchange import build_stackexchange

    return build_stackexchange(pool, split, stats, work_dir)


@POOL_SOURCES.register("wikihow")
def _wikihow(pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path) -> Iterator[Record]:
    from ablate.data.wikihow import build_wikihow

    return build_wikihow(pool, split, stats)


@POOL_SOURCES.register("lima")
def _lima(pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path) -> Iterator[Record]:
    from ablate.data.lima_format import build_lima

    return build_lima(pool, split, stats)


@POOL_SOURCES.register("hf")
def _hf(pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path) -> Iterator[Record]:
    from ablate.data.hf_dataset import build_hf

    return build_hf(pool, split, stats)


def load_pool(pool: PoolConfig, split: str = "train") -> list[Record]:
    """All records of a source, in memory (evaluation prompts, direct training sources)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ablate-source-") as work_dir:
        return list(POOL_SOURCES.get(pool.source)(pool, split, BuildStats(), Path(work_dir)))


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
