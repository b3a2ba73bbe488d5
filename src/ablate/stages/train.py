"""Train: fine-tune the base model on the selected examples; weights, log and stats."""

from __future__ import annotations

import shutil
from pathlib import Path

from ablate import layout
from ablate.files import atomic_write_json, read_jsonl
from ablate.stages.context import TrialContext
from ablate.stages.select import EXAMPLES


def run_train(ctx: TrialContext, out: Path) -> None:
    from ablate.models.finetune import fine_tune

    model, training = ctx.config.model, ctx.config.training
    # Checkpoints live beside the stage, not in its temporary folder (a restart makes a new
    # one): on the results storage, so a trial restarted on another node finds them too.
    work = layout.train_work_dir(ctx.ledger.root, ctx.trial.stage_keys["train"])
    for other in work.parent.glob("*"):
        if other != work:  # another config's checkpoints: never resumed, only in the way
            shutil.rmtree(other, ignore_errors=True)
    stats = fine_tune(
        model.name_or_path,
        model.revision,
        model.dtype,
        read_jsonl(ctx.stage_path("select", EXAMPLES)),
        training,
        ctx.trial.seed,
        out,
        ctx.device,
        on_step=ctx.on_step,
        work_dir=work,
        # Generation loads the saved model with the default attention kernel; one trained with
        # another kernel is not handed over, so an uninterrupted trial and one resumed after
        # training sample with the same kernel.
        hand_over=ctx.keep_model if training.attn_implementation is None else None,
    )
    atomic_write_json(out / "stats.json", stats)
    # The model is saved: the checkpoints have no further use. Should the process die before
    # the stage is marked done, training runs again from the start (a short window).
    shutil.rmtree(work.parent, ignore_errors=True)
