"""Generate: K samples per evaluation prompt from the fine-tuned model, and the held-out loss
on the prompts' reference responses (per prompt, so its interval can resample prompts)."""

from __future__ import annotations

from pathlib import Path

from ablate.data.sources import evaluation_records
from ablate.files import atomic_write_json, write_jsonl
from ablate.stages.context import TrialContext

SAMPLES = "samples.jsonl"
HELDOUT_FILE = "heldout_losses.jsonl"  # per prompt: loss sum and tokens of its reference


def run_generate(ctx: TrialContext, out: Path) -> None:
    from ablate.models.generation import (
        generate_samples,
        heldout_loss,
        heldout_losses,
        load_finetuned,
    )

    cfg = ctx.config
    prompts = evaluation_records(cfg.evaluation.prompts, cfg.evaluation.max_prompts)
    lm = load_finetuned(
        ctx.stage_path("train", "model"),
        cfg.model.name_or_path,
        cfg.model.revision,
        cfg.model.dtype,
        ctx.device,
    )
    samples = generate_samples(lm, prompts, cfg.generation, ctx.trial.seed)
    write_jsonl(out / SAMPLES, samples)
    losses = heldout_losses(lm, prompts, cfg.training.max_seq_length, cfg.training.micro_batch_size)
    write_jsonl(out / HELDOUT_FILE, losses)
    stats = {"heldout_loss": heldout_loss(losses), "eval_prompts": len(prompts)}
    atomic_write_json(out / "stats.json", stats)
