"""Generate: K samples per evaluation prompt from the fine-tuned model, the held-out loss
on the prompts' reference responses (per prompt, so its interval can resample prompts), and,
when evaluation.tasks is set, the tasks' scored responses (tasks.jsonl).

The held-out loss and the tasks always run with transformers, and first: with the vllm
backend the transformers model is then freed before the engine starts, so the two never hold
the GPU at once (and a merged model for vLLM is saved from it, already in memory). Task
prompts are short and few next to the evaluation's; loading the model a second time into
vLLM for them would cost more than it saves."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate.data.sources import evaluation_records
from ablate.files import atomic_write_json, write_jsonl
from ablate.stages.context import TrialContext
from ablate.stages.dialogue import write_dialogues

if TYPE_CHECKING:
    from ablate.models.generation import DecodeMeter, LoadedModel
    from ablate.records import HeldoutRow, Sample
    from ablate.tasks.records import TaskRow

    Generated = tuple[list[Sample], list[HeldoutRow], list[TaskRow]]

SAMPLES = "samples.jsonl"
HELDOUT_FILE = "heldout_losses.jsonl"  # per prompt: loss sum and tokens of its reference
MERGED = "vllm-merged-model"  # scratch: a merged model for vLLM, removed before the stage ends


def _heldout(ctx: TrialContext, lm: LoadedModel, prompts: list[dict[str, Any]]) -> list[HeldoutRow]:
    from ablate.models.generation import heldout_losses

    t = ctx.config.training
    return heldout_losses(lm, prompts, t.max_seq_length, t.micro_batch_size)


def _tasks(ctx: TrialContext, lm: LoadedModel) -> list[TaskRow]:
    """The tasks' scored rows; none without evaluation.tasks. Their decoding is metered apart,
    so the evaluation prompts' generation figures stay theirs."""
    cfg = ctx.config
    if not cfg.evaluation.tasks:
        return []
    from ablate.tasks.evaluate import evaluate_tasks

    return evaluate_tasks(lm, cfg.evaluation.tasks, cfg.generation, ctx.trial.seed)


def _with_hf(ctx: TrialContext, prompts: list[dict[str, Any]], meter: DecodeMeter) -> Generated:
    from ablate.models.generation import generate_samples

    lm = ctx.finetuned()  # the model train handed over, or the saved one
    losses, rows = _heldout(ctx, lm, prompts), _tasks(ctx, lm)
    # branching: each sample also carries its entropy sums (ablate.branching). The text is
    # unchanged and the fields are additive (score writes no branching factor without them),
    # so the stage's version stays: a bump would regenerate and rejudge every sweep.
    gen, seed = ctx.config.generation, ctx.trial.seed
    samples = generate_samples(lm, prompts, gen, seed, meter, branching=True)
    return samples, losses, rows


def _with_vllm(
    ctx: TrialContext, prompts: list[dict[str, Any]], meter: DecodeMeter, out: Path
) -> Generated:
    from ablate.models.load import free_accelerator_memory
    from ablate.models.vllm_generation import (
        generate_with_vllm,
        served_model,
        write_merged,
    )

    cfg, scratch = ctx.config, out / MERGED
    lm = ctx.finetuned()
    losses, rows = _heldout(ctx, lm, prompts), _tasks(ctx, lm)
    served = served_model(
        ctx.stage_path("train", "model"), cfg.model.name_or_path, cfg.model.revision, scratch
    )
    try:
        if served.merged:
            write_merged(lm, scratch)
        tokenizer = lm.tokenizer
        del lm  # with the context's, the last reference: the weights leave the GPU for vLLM
        ctx.release_model()
        samples = generate_with_vllm(
            served, tokenizer, prompts, cfg.generation, ctx.trial.seed, cfg.model.dtype, meter
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    free_accelerator_memory()  # for the stages after (an in-process judge)
    return samples, losses, rows


def run_generate(ctx: TrialContext, out: Path) -> None:
    from ablate.models.generation import DecodeMeter, heldout_loss

    cfg = ctx.config
    prompts = evaluation_records(cfg.evaluation.prompts, cfg.evaluation.max_prompts)
    meter = DecodeMeter()
    if cfg.generation.backend == "vllm":
        samples, losses, task_rows = _with_vllm(ctx, prompts, meter, out)
    else:
        samples, losses, task_rows = _with_hf(ctx, prompts, meter)
    write_jsonl(out / SAMPLES, samples)
    write_jsonl(out / HELDOUT_FILE, losses)
    if cfg.evaluation.tasks:  # only then: a trial without tasks has the files it always had
        from ablate.tasks.records import TASKS_FILE

        write_jsonl(out / TASKS_FILE, task_rows)
    stats = {
        "heldout_loss": heldout_loss(losses),
        "eval_prompts": len(prompts),
        "generation_backend": cfg.generation.backend,
        **meter.stats(),
    }
    atomic_write_json(out / "stats.json", stats)
    write_dialogues(ctx, out)  # evaluation.dialogues only: generate/dialogues.jsonl
    ctx.release_model()  # the stages after (an in-process judge) may need the memory
