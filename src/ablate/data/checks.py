"""Data checks at planning time, so `ablate validate` catches what would fail in a worker."""

from __future__ import annotations

from ablate.config.schema import Config
from ablate.data.sources import evaluation_records, training_records
from ablate.errors import UserError


def check_pools(config: Config) -> None:
    """Every pool an arm uses parses, has responses and can fill the largest size."""
    largest = max(config.sweep.sizes, default=0)
    for name in sorted({arm.pool for arm in config.sweep.arms.values()}):
        records = training_records(config.pools[name])
        if len(records) < largest:
            raise UserError(
                f"pools.{name}: {len(records)} records cannot fill sweep size {largest}; "
                "lower sweep.sizes or use a larger pool."
            )
    prompts = evaluation_records(config.evaluation.prompts, config.evaluation.max_prompts)
    if len(prompts) < 2:
        raise UserError(
            f"evaluation.prompts: {len(prompts)} prompt(s); the score's interval needs at least 2."
        )
