"""Judge: every sample gets one judgment, scored or unscored with a reason; an outage leaves the
stage undone so that resume asks only the failed calls again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablate import layout
from ablate.errors import UserError
from ablate.files import atomic_write_json, write_jsonl
from ablate.judge.modes import judge_mode
from ablate.ledger import DONE, TrialLedger
from ablate.records import Sample, read_samples
from ablate.stages.context import TrialContext
from ablate.stages.dialogue import judge_dialogues
from ablate.stages.generate import SAMPLES

JUDGMENTS, ACCOUNTING = "judgments.jsonl", "accounting.json"


def run_judge(ctx: TrialContext, out: Path) -> None:
    from ablate.judge.backends import create_judge
    from ablate.judge.references import unscored

    cfg = ctx.config.judge
    samples = read_samples(ctx.stage_path("generate", SAMPLES))
    paired = judge_mode(cfg.mode).paired
    if paired and cfg.pairwise_samples_per_prompt is not None:
        samples = [s for s in samples if s["sample"] < cfg.pairwise_samples_per_prompt]
    accounting: dict[str, Any] = {}
    if paired and reference_variant(cfg.reference_arm, ctx.trial.family) == ctx.trial.arm:
        reason = "the reference arm is not compared with itself"
        judgments = [unscored(s, reason, cfg) for s in samples]
    else:
        references = _references(ctx, samples)
        cache = layout.trial_judge_cache(ctx.ledger.root, cfg.cache_path)
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
    write_jsonl(out / JUDGMENTS, judgments)
    atomic_write_json(out / ACCOUNTING, accounting)
    judge_dialogues(ctx, out)  # generate/dialogues.jsonl's turns, when there are any


def _references(ctx: TrialContext, samples: list[Sample]) -> dict[str, str] | None:
    """prompt id -> the reference response (pairwise only): another arm's first sample at the
    same size and seed, or the reference file's."""
    from ablate.judge.references import first_sample_by_prompt, references_from_file

    cfg = ctx.config.judge
    if not judge_mode(cfg.mode).paired:
        return None
    if not cfg.reference_arm:
        return references_from_file(Path(cfg.reference_file or ""), samples)
    return first_sample_by_prompt(reference_samples(ctx))


def reference_samples(ctx: TrialContext) -> list[Sample]:
    """The reference arm's samples at the trial's size and seed (judge.reference_arm)."""
    cfg, trial = ctx.config.judge, ctx.trial
    arm = reference_variant(cfg.reference_arm, trial.family)
    folder = f"{arm}-n{trial.n_examples}-s{trial.seed}"
    generate = TrialLedger(ctx.ledger.root.parent / folder).stage_dir("generate")
    if not (generate / DONE).is_file():
        raise UserError(
            f"judge.reference_arm: arm '{cfg.reference_arm}' has no generations for "
            f"n={trial.n_examples}, seed={trial.seed} yet; run the sweep first, then compare "
            "with `ablate judge RESULTS/SWEEP judge.mode=pairwise ...`."
        )
    return read_samples(generate / SAMPLES)


def reference_variant(reference_arm: str | None, family: str) -> str | None:
    """The reference arm at a trial's grid point (its variant's name)."""
    if reference_arm is None:
        return None
    return f"{reference_arm}-{family}" if family else reference_arm
