"""Judge: every sample gets one judgment, scored or unscored with a reason; an outage leaves the
stage undone so that resume asks only the failed calls again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablate.files import atomic_write_json, read_jsonl, write_jsonl
from ablate.stages.context import TrialContext
from ablate.stages.generate import SAMPLES

JUDGMENTS, ACCOUNTING = "judgments.jsonl", "accounting.json"


def run_judge(ctx: TrialContext, out: Path) -> None:
    from ablate.judge.backends import create_judge
    from ablate.judge.references import load_references, unscored

    cfg = ctx.config.judge
    samples = read_jsonl(ctx.stage_path("generate", SAMPLES))
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
    write_jsonl(out / JUDGMENTS, judgments)
    atomic_write_json(out / ACCOUNTING, accounting)


def judge_cache_path(trial_root: Path) -> Path:
    """One reply cache per results folder (results/judge_cache.sqlite), shared by its sweeps."""
    return trial_root.parents[2] / "judge_cache.sqlite"
