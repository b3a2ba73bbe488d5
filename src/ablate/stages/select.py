"""Select: the trial's training subset, a nested prefix of one shuffle of its arm's pool."""

from __future__ import annotations

from pathlib import Path

from ablate.data.select import nested_subset
from ablate.files import write_jsonl
from ablate.stages.context import TrialContext

EXAMPLES = "examples.jsonl"


def run_select(ctx: TrialContext, out: Path) -> None:
    from ablate.data.pools import read_pool_records

    records = read_pool_records(ctx.pool_dir)
    subset = nested_subset(records, ctx.trial.n_examples, ctx.trial.seed, ctx.trial.pool)
    write_jsonl(out / EXAMPLES, subset)
