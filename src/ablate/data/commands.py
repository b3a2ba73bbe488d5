"""`ablate data prepare` and `ablate data inspect`: build pools ahead of a sweep, and read
what each one holds (what every filter rule removed, groups, lengths, duplicates, diversity)."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # What the build warned about (a source file that added nothing, no records at all),
    # for the CLI to print; also in the pool's manifest, shown by `ablate data inspect`.
    warnings: list[str] = field(default_factory=list)


def prepare_pools_of(
    config_path: Path, overrides: list[str], results_dir: Path
) -> list[PreparedPool]:
    """Every pool an experiment or sweep file defines, built (or found) under results/pools."""
    config = load_config(config_path, overrides, require_sweep=False)
    require_data(config)
    pools_dir = (results_dir / "pools").resolve()
    prepared = []
    from ablate.data.pool_stats import manifest_warnings

    for name, pool in sorted(config.pools.items()):
        folder = prepare_pool(name, pool, pools_dir, config.data.embedding_model)
        manifest = read_manifest(folder)
        prepared.append(PreparedPool(name, pool.source, manifest["stats"]["records"], folder,
                                     manifest_warnings(manifest)))
    return prepared


def inspect_pool(folder: Path) -> str:
    from ablate.data.pool_stats import format_manifest_table

    return format_manifest_table(read_manifest(folder))
