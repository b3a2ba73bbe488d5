"""Train: fine-tune the base model on the selected examples; weights, log and stats."""

from __future__ import annotations

import shutil
from pathlib import Path

from ablate.files import atomic_write_json, read_jsonl
from ablate.stages.context import TrialContext
from ablate.stages.select import EXAMPLES


def run_train(ctx: TrialContext, out: Path) -> None:
    from ablate.models.finetune import fine_tune

    model = ctx.config.model
    stats = fine_tune(
        model.name_or_path,
        model.revision,
        model.dtype,
        read_jsonl(ctx.stage_path("select", EXAMPLES)),
        ctx.config.training,
        ctx.trial.seed,
        out,
        ctx.device,
        on_step=ctx.on_step,
    )
    shutil.rmtree(out / "scratch", ignore_errors=True)  # Trainer's working folder, empty of value
    atomic_write_json(out / "stats.json", stats)
