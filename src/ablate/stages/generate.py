"""Generate: K samples per evaluation prompt from the fine-tuned model, and the held-out loss
on the prompts' reference responses (per prompt, so its interval can resample prompts).

The held-out loss is a forward pass, always computed with transformers, and first: with the
vllm backend the transformers model is then freed before the engine starts, so the two never
hold the GPU at once (and a merged model for vLLM is saved from it, already in memory)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate.data.sources import evaluation_records
from ablate.files import atomic_write_json, write_jsonl
from ablate.stages.context import TrialContext

if TYPE_CHECKING:
    from ablate.models.generation import DecodeMeter, LoadedModel
    from ablate.records import HeldoutRow, Sample

SAMPLES = "samples.jsonl"
HELDOUT_FILE = "heldout_losses.jsonl"  # per prompt: loss sum and tokens of its reference
MERGED = "vllm-merged-model"  # scratch: a merged model for vLLM, removed before the stage ends


def _load(ctx: TrialContext) -> LoadedModel:
    from ablate.models.generation import load_finetuned

    m = ctx.config.model
    model_dir = ctx.stage_path("train", "model")
    return load_finetuned(model_dir, m.name_or_path, m.revision, m.dtype, ctx.device)


def _heldout(ctx: TrialContext, lm: LoadedModel, prompts: list[dict[str, Any]]) -> list[HeldoutRow]:
    from ablate.models.generation import heldout_losses

    t = ctx.config.training
    return heldout_losses(lm, prompts, t.max_seq_length, t.micro_batch_size)


def _with_hf(
    ctx: TrialContext, prompts: list[dict[str, Any]], meter: DecodeMeter
) -> tuple[list[Sample], list[HeldoutRow]]:
    from ablate.models.generation import generate_samples

    lm = _load(ctx)
    losses = _heldout(ctx, lm, prompts)
    return generate_samples(lm, prompts, ctx.config.generation, ctx.trial.seed, meter), losses


def _with_vllm(
    ctx: TrialContext, prompts: list[dict[str, Any]], meter: DecodeMeter, out: Path
) -> tuple[list[Sample], list[HeldoutRow]]:
    from ablate.models.load import free_accelerator_memory
    from ablate.models.vllm_generation import (
        generate_with_vllm,
        served_model,
        write_merged,
    )

    cfg, scratch = ctx.config, out / MERGED
    lm = _load(ctx)
    losses = _heldout(ctx, lm, prompts)
    served = served_model(
        ctx.stage_path("train", "model"), cfg.model.name_or_path, cfg.model.revision, scratch
    )
    try:
        if served.merged:
            write_merged(lm, scratch)
        tokenizer = lm.tokenizer
        del lm  # the last reference: the weights can leave the GPU before vLLM takes it
        free_accelerator_memory()
        samples = generate_with_vllm(
            served, tokenizer, prompts, cfg.generation, ctx.trial.seed, cfg.model.dtype, meter
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    free_accelerator_memory()  # for the stages after (an in-process judge)
    return samples, losses


def run_generate(ctx: TrialContext, out: Path) -> None:
    from ablate.models.generation import DecodeMeter, heldout_loss

    cfg = ctx.config
    prompts = evaluation_records(cfg.evaluation.prompts, cfg.evaluation.max_prompts)
    meter = DecodeMeter()
    if cfg.generation.backend == "vllm":
        samples, losses = _with_vllm(ctx, prompts, meter, out)
    else:
        samples, losses = _with_hf(ctx, prompts, meter)
    write_jsonl(out / SAMPLES, samples)
    write_jsonl(out / HELDOUT_FILE, losses)
    stats = {
        "heldout_loss": heldout_loss(losses),
        "eval_prompts": len(prompts),
        "generation_backend": cfg.generation.backend,
        **meter.stats(),
    }
    atomic_write_json(out / "stats.json", stats)
