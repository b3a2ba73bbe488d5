"""One trial's stages: select -> train -> generate -> judge -> score, talking through files.

Each stage reads the previous stage's folder and writes its own through the ledger; a stage
already done with its planned key is skipped, which is all that resume is. This module knows
nothing of Ray (the runner calls it) and nothing of MLflow (the driver tracks).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.config.schema import Config
from ablate.data.select import nested_subset
from ablate.data.sources import evaluation_records
from ablate.errors import UserError
from ablate.ledger import TrialLedger, atomic_write_json, read_json, read_jsonl, write_jsonl
from ablate.plan import STAGES, Trial

HELDOUT_FILE = "heldout_losses.jsonl"  # per prompt: loss sum and tokens of its reference
StageReporter = Callable[[str], None]  # report(stage) when a stage starts
StepReporter = Callable[[int, int], None]  # on_step(step, steps) while training runs


def _no_report(stage: str) -> None:
    return None


def _no_step(step: int, steps: int) -> None:
    return None


@dataclass
class TrialContext:
    config: Config
    trial: Trial
    ledger: TrialLedger
    pool_dir: Path  # the prepared pool this trial's arm samples from
    device: str
    on_step: StepReporter = _no_step

    def stage_path(self, stage: str, name: str) -> Path:
        return self.ledger.stage_dir(stage) / name


def run_select(ctx: TrialContext, out: Path) -> None:
    from ablate.data.pools import read_pool_records

    records = read_pool_records(ctx.pool_dir)
    subset = nested_subset(records, ctx.trial.n_examples, ctx.trial.seed, ctx.trial.pool)
    write_jsonl(out / "examples.jsonl", subset)


def run_train(ctx: TrialContext, out: Path) -> None:
    from ablate.train import fine_tune

    model = ctx.config.model
    stats = fine_tune(
        model.name_or_path,
        model.revision,
        model.dtype,
        read_jsonl(ctx.stage_path("select", "examples.jsonl")),
        ctx.config.training,
        ctx.trial.seed,
        out,
        ctx.device,
        on_step=ctx.on_step,
    )
    shutil.rmtree(out / "scratch", ignore_errors=True)  # Trainer's working folder, empty of value
    atomic_write_json(out / "stats.json", stats)


def run_generate(ctx: TrialContext, out: Path) -> None:
    from ablate.generate import generate_samples, heldout_loss, heldout_losses, load_finetuned

    cfg = ctx.config
    prompts = evaluation_records(cfg.evaluation.prompts, cfg.evaluation.max_prompts)
    model, tokenizer = load_finetuned(
        ctx.stage_path("train", "model"),
        cfg.model.name_or_path,
        cfg.model.revision,
        cfg.model.dtype,
        ctx.device,
    )
    samples = generate_samples(
        model, tokenizer, prompts, cfg.generation, ctx.trial.seed, ctx.device
    )
    write_jsonl(out / "samples.jsonl", samples)
    losses = heldout_losses(
        model,
        tokenizer,
        prompts,
        cfg.training.max_seq_length,
        cfg.training.micro_batch_size,
        ctx.device,
    )
    write_jsonl(out / HELDOUT_FILE, losses)
    stats = {"heldout_loss": heldout_loss(losses), "eval_prompts": len(prompts)}
    atomic_write_json(out / "stats.json", stats)


def run_judge(ctx: TrialContext, out: Path) -> None:
    from ablate.judge.backends import create_judge
    from ablate.judge.references import load_references, unscored

    cfg = ctx.config.judge
    samples = read_jsonl(ctx.stage_path("generate", "samples.jsonl"))
    if cfg.mode == "pairwise" and cfg.pairwise_samples_per_prompt is not None:
        samples = [s for s in samples if s["sample"] < cfg.pairwise_samples_per_prompt]
    accounting: dict[str, Any] = {}
    if cfg.mode == "pairwise" and cfg.reference_arm == ctx.trial.arm:
        reason = "the reference arm is not compared with itself"
        judgments = [unscored(s, reason, cfg) for s in samples]
    else:
        references = load_references(cfg, ctx.trial, ctx.ledger.root, samples)
        cache = Path(cfg.cache_path) if cfg.cache_path else judge_cache_path(ctx.ledger.root)
        judge = create_judge(cfg, ctx.device, cache)
        judgments = judge.judge(samples, references)
        accounting = judge.accounting()
    failed = [j["reason"] for j in judgments if "judge call failed" in (j.get("reason") or "")]
    if failed:
        # Not a verdict but an outage: the stage stays undone so `ablate resume` asks again;
        # the replies that did come back are cached and cost nothing the second time.
        raise RuntimeError(
            f"{len(failed)} of {len(judgments)} judge calls failed for good (first: {failed[0]}); "
            "`ablate resume` asks only those again"
        )
    write_jsonl(out / "judgments.jsonl", judgments)
    atomic_write_json(out / "accounting.json", accounting)


def judge_cache_path(trial_root: Path) -> Path:
    """One reply cache per results folder (results/judge_cache.sqlite), shared by its sweeps."""
    return trial_root.parents[2] / "judge_cache.sqlite"


def run_score(ctx: TrialContext, out: Path) -> None:
    from ablate.score import (
        accounting_metrics,
        heldout_metrics,
        judge_metrics,
        outcome_metrics,
        sample_metrics,
    )

    e, j = ctx.config.evaluation, ctx.config.judge
    judgments = read_jsonl(ctx.stage_path("judge", "judgments.jsonl"))
    metrics: dict[str, Any] = judge_metrics(
        judgments, e.confidence, e.bootstrap_resamples, ctx.trial.seed
    )
    metrics |= outcome_metrics(
        judgments, j.mode, e.confidence, e.bootstrap_resamples, ctx.trial.seed
    )
    accounting = read_json(ctx.stage_path("judge", "accounting.json"))
    metrics |= accounting_metrics(
        accounting, judgments, j.price_prompt_per_million, j.price_completion_per_million
    )
    metrics |= sample_metrics(read_jsonl(ctx.stage_path("generate", "samples.jsonl")))
    metrics |= read_json(ctx.stage_path("generate", "stats.json"))
    heldout = ctx.stage_path("generate", HELDOUT_FILE)
    if heldout.is_file():  # trials generated before per-prompt losses were kept have none
        metrics |= heldout_metrics(
            read_jsonl(heldout), e.confidence, e.bootstrap_resamples, ctx.trial.seed
        )
    metrics |= read_json(ctx.stage_path("train", "stats.json"))
    atomic_write_json(out / "metrics.json", metrics)


STAGE_RUNNERS: dict[str, Callable[[TrialContext, Path], None]] = {
    "select": run_select,
    "train": run_train,
    "generate": run_generate,
    "judge": run_judge,
    "score": run_score,
}


class TrialConfigError(UserError):
    """A failure that running again cannot fix (a setting, the data): recorded, not retried."""


def run_trial(
    config: Config,
    trial: Trial,
    root: Path,
    pool_dir: Path,
    device: str,
    report: StageReporter = _no_report,
    on_step: StepReporter = _no_step,
) -> dict[str, Any]:
    """Run the stages not yet done; return the trial's metrics (from score/metrics.json).

    The trial folder is held (its lock) for the whole run, so a worker orphaned by a killed
    driver and the next run's worker never write it at once; _running.json says which stage
    is under way, so a worker killed without a word is told apart from a failure."""
    ledger = TrialLedger(root, trial.judge_name)
    ctx = TrialContext(config, trial, ledger, pool_dir, device, on_step)
    with ledger.hold():
        for stage in STAGES:
            key = trial.stage_keys[stage]
            if ledger.is_done(stage, key):
                continue
            report(stage)
            ledger.mark_running(stage)
            try:
                with ledger.write_stage(stage, key) as out:
                    STAGE_RUNNERS[stage](ctx, out)
            except BaseException as exc:
                # A user error's message stands on its own; a bug keeps its exception's name.
                text = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
                ledger.record_failure(stage, text)
                ledger.clear_running()
                if isinstance(exc, UserError) and not isinstance(exc, TrialConfigError):
                    raise TrialConfigError(str(exc)) from None
                raise
        ledger.clear_running()
        return read_json(ledger.stage_dir("score") / "metrics.json")
