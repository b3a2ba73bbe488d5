"""Data checks: cheap ones at planning time (so `ablate validate` catches what would fail in a
worker), and size checks on prepared pools before any trial starts."""

from __future__ import annotations

from pathlib import Path

from ablate.config.arms import variants
from ablate.config.schema import Config
from ablate.config.validate import pool_needs
from ablate.data.pools import read_manifest
from ablate.data.sources import evaluation_records, source, training_records
from ablate.errors import UserError


def used_pools(config: Config) -> list[str]:
    """The pools some arm draws from (alone or in a mixture)."""
    return sorted({pool for variant in variants(config) for pool in variant.data})


def _needs(config: Config) -> dict[str, int]:
    """pool -> the most records an arm takes from it at the largest size."""
    return pool_needs(config, max(config.sweep.sizes, default=0))


def data_warnings(config: Config) -> list[str]:
    """Downloads a config names that are not there yet (fine to validate, not to run)."""
    used = set(used_pools(config)) or set(config.pools)
    pools = [(f"pools.{name}", pool) for name, pool in config.pools.items() if name in used]
    pools.append(("evaluation.prompts", config.evaluation.prompts))
    warnings = []
    for path, pool in pools:
        spec = source(pool.source)
        missing = spec.missing(path, pool) if spec.external and pool.path else None
        if missing:
            warnings.append(f"{missing}: fetch the data before running (see data/README.md)")
    return warnings


def _check_size(name: str, records: int, needed: int) -> None:
    if records < needed:
        raise UserError(
            f"pools.{name}: {records} records cannot fill the {needed} the largest sweep size "
            "takes from it; lower sweep.sizes or use a larger pool."
        )


def evaluation_prompt_count(config: Config) -> int | None:
    """How many evaluation prompts a trial samples; None when their file is not there yet."""
    if any(w.startswith("evaluation.") for w in data_warnings(config)):
        return None
    return len(evaluation_records(config.evaluation.prompts, config.evaluation.max_prompts))


def check_pools(config: Config) -> None:
    """Direct pools parse, have responses and can fill the largest size; prompts exist."""
    for name, needed in _needs(config).items():
        if source(config.pools[name].source).direct:
            _check_size(name, len(training_records(config.pools[name])), needed)
    prompts = evaluation_prompt_count(config)
    if prompts is not None and prompts < 2:
        raise UserError(
            f"evaluation.prompts: {prompts} prompt(s); the score's interval needs at least 2."
        )


def require_data(config: Config) -> None:
    """Before preparing pools or running trials: every external file must be there."""
    warnings = data_warnings(config)
    if warnings:
        raise UserError("data missing: " + "; ".join(warnings))


def check_prepared_sizes(config: Config, pool_dirs: dict[str, Path]) -> None:
    needs = _needs(config)
    for name, folder in pool_dirs.items():
        _check_size(name, read_manifest(folder)["stats"]["records"], needs.get(name, 0))
