"""Select: the trial's training subset, a nested prefix of one seeded shuffle of its arm's pool,
or of its mixture's pools in their proportions (ablate.data.mixtures); the realised count per
pool is recorded beside the examples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ablate.data.mixtures import mixed_subset
from ablate.data.select import nested_subset
from ablate.files import atomic_write_json, read_json_object, write_jsonl
from ablate.stages.context import TrialContext

EXAMPLES = "examples.jsonl"
DATA = "data.json"  # the realised number of examples from each pool


def run_select(ctx: TrialContext, out: Path) -> None:
    from ablate.data.pools import read_pool_records

    trial, weights = ctx.trial, ctx.trial.weights
    if len(weights) == 1:
        pool = next(iter(weights))
        records = read_pool_records(ctx.pool_dirs[pool])
        subset = [
            r | {"pool": pool} for r in nested_subset(records, trial.n_examples, trial.seed, pool)
        ]
    else:
        by_pool = {p: read_pool_records(ctx.pool_dirs[p]) for p in weights}
        tagged = {p: [r | {"pool": p} for r in rows] for p, rows in by_pool.items()}
        subset = mixed_subset(tagged, weights, trial.n_examples, trial.seed)
    write_jsonl(out / EXAMPLES, subset)
    counts = Counter(r["pool"] for r in subset)
    atomic_write_json(out / DATA, {"weights": weights, "counts": dict(sorted(counts.items()))})


def data_counts(ctx: TrialContext) -> dict[str, Any]:
    """The realised counts as metrics (data_count.<pool>) and one summary text ("a:5;b:3");
    nothing for a select stage made before counts were recorded."""
    recorded, _ = read_json_object(ctx.stage_path("select", DATA))
    counts = (recorded or {}).get("counts") or {}
    if not isinstance(counts, dict) or not counts:
        return {}
    text = ";".join(f"{pool}:{count}" for pool, count in counts.items())
    return {f"data_count.{pool}": count for pool, count in counts.items()} | {"data": text}
