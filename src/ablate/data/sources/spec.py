"""What a pool source is, in one object: how it builds records, which settings key its pool,
what its `path` must be, and the checks only it knows. Adding a source is one new module
holding a `SOURCE = PoolSource(...)` and one line in ablate.data.sources.POOL_SOURCES."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record

# (pool, split, stats, work_dir) -> records; split is "train" for training pools and "eval" for
# evaluation prompts; work_dir is scratch space that is deleted afterwards.
SourceBuilder = Callable[[PoolConfig, str, BuildStats, Path], Iterator[Record]]
Checks = Callable[[str, PoolConfig], list[str]]  # (dotted path, pool) -> problems


def no_checks(path: str, pool: PoolConfig) -> list[str]:
    return []


def positive(path: str, value: float) -> list[str]:
    return [] if value > 0 else [f"{path}: must be > 0, got {value}"]


def _size_needed(path: str, pool: PoolConfig) -> list[str]:
    return positive(f"{path}.size", pool.size or 0)


@dataclass(frozen=True)
class PoolSource:
    name: str
    build: SourceBuilder
    # The PoolConfig fields that change this source's records: they key the pool (paths do
    # not: where the files sit does not matter, their content does, through provenance).
    settings: tuple[str, ...] = ()
    path_kind: str | None = None  # "file" or "folder": what `path` must name; None: no path
    # Downloaded by the user: a config may name it before it exists (validate and plan warn;
    # run and data prepare stop before any trial).
    external: bool = False
    direct: bool = False  # cheap to read whole while planning (validate checks its sizes)
    checks: Checks = no_checks

    def key_settings(self, pool: PoolConfig) -> dict[str, Any]:
        values = asdict(pool)
        settings = {"source": pool.source} | {k: values[k] for k in self.settings}
        if pool.dataset and Path(pool.dataset).exists():
            settings.pop("dataset", None)  # a local folder: provenance covers its content
        return settings

    def missing(self, path: str, pool: PoolConfig) -> str | None:
        """Why the data at `path` is not there, or None."""
        if self.path_kind is None:
            return None
        where = Path(pool.path or "")
        exists = where.is_file() if self.path_kind == "file" else where.is_dir()
        return None if exists else f"{path}.path: no such {self.path_kind} {pool.path}"

    def problems(self, path: str, pool: PoolConfig) -> list[str]:
        problems = []
        if self.path_kind is not None and not pool.path:
            problems.append(
                f"{path}.path: a {self.name} pool needs the path of its {self.path_kind}"
            )
        elif not self.external:
            missing = self.missing(path, pool)
            problems += [missing] if missing else []
        if pool.size is not None:
            problems += positive(f"{path}.size", pool.size)
        return problems + self.checks(path, pool)


def generated(
    name: str, records: Callable[[int, int, str], list[Record]], group: str
) -> PoolSource:
    """A source the project generates itself, `records(size, seed, split)`: no download, any
    size (which it needs), cheap to read whole; each record counted under its `group` field."""

    def build(pool: PoolConfig, split: str, stats: BuildStats, work_dir: Path) -> Iterator[Record]:
        for record in records(pool.size or 0, pool.seed, split):
            stats.seen += 1
            stats.kept_by_group[record[group]] += 1
            yield record

    return PoolSource(name, build, settings=("size", "seed"), direct=True, checks=_size_needed)
