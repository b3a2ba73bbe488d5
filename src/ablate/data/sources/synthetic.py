"""The project's own question/answer generator as a pool source: no download, any size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record
from ablate.data.sources.spec import PoolSource, positive


def build_synthetic(
    pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path
) -> Iterator[Record]:
    from ablate.data.fixtures.synthetic import synthetic_records

    for record in synthetic_records(pool.size or 0, pool.seed, split=split):
        stats.seen += 1
        stats.kept_by_group[record["topic"]] += 1
        yield record


def _problems(path: str, pool: PoolConfig) -> list[str]:
    return positive(f"{path}.size", pool.size or 0)


SOURCE = PoolSource(
    "synthetic", build_synthetic, settings=("size", "seed"), direct=True, checks=_problems
)
