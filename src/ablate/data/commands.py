"""`ablate data prepare` and `ablate data inspect`: build pools ahead of a sweep, and read
what each one holds (what every filter rule removed, groups, lengths, duplicates, diversity)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ablate.config.load import load_config
from ablate.data.checks import require_data
from ablate.data.pools import prepare_pool, read_manifest


@dataclass
class PreparedPool:
    name: str
    source: str
    records: int
    folder: Path


def prepare_pools_of(
    config_path: Path, overrides: list[str], results_dir: Path
) -> list[PreparedPool]:
    """Every pool an experiment or sweep file defines, built (or found) under results/pools."""
    config = load_config(config_path, overrides, require_sweep=False)
    require_data(config)
    pools_dir = (results_dir / "pools").resolve()
    prepared = []
    for name, pool in sorted(config.pools.items()):
        folder = prepare_pool(name, pool, pools_dir, config.data.embedding_model)
        records = read_manifest(folder)["stats"]["records"]
        prepared.append(PreparedPool(name, pool.source, records, folder))
    return prepared


def inspect_pool(folder: Path) -> str:
    from ablate.data.pool_stats import format_manifest_table

    return format_manifest_table(read_manifest(folder))
