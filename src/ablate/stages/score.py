"""Score: a trial's metrics from its files: the judge score with its intervals, outcome shares
and the unscored rate (prompt-resampled), judge accounting, held-out loss, task accuracies,
the branching factor (ablate.branching), training facts."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ablate.branching import branching_metrics
from ablate.files import atomic_write_json, read_json
from ablate.judge.modes import judge_mode
from ablate.records import (
    HeldoutRow,
    Judgment,
    Sample,
    read_heldout_rows,
    read_judgments,
    read_samples,
)
from ablate.stages.context import TrialContext
from ablate.stages.dialogue import dialogue_metrics
from ablate.stages.generate import HELDOUT_FILE, SAMPLES
from ablate.stages.judge import ACCOUNTING, JUDGMENTS
from ablate.stages.select import data_counts
from ablate.stats import Interval, summarize_scores
from ablate.tasks.records import TASKS_FILE, TaskRow, read_task_rows

METRICS = "metrics.json"


def scores_by_prompt(judgments: list[Judgment]) -> list[list[float | None]]:
    grouped: dict[str, list[float | None]] = defaultdict(list)
    for j in judgments:
        grouped[j["prompt_id"]].append(j["score"] if j["scored"] else None)
    return list(grouped.values())


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def _interval_metrics(prefix: str, make: Callable[[], Interval]) -> dict[str, Any]:
    """<prefix>_ci_low/high from an interval, or nothing when there is too little data (the
    value then has no interval, and the summary leaves the bounds empty)."""
    try:
        interval = make()
    except ValueError:
        return {}
    return {f"{prefix}_ci_low": _finite(interval.low), f"{prefix}_ci_high": _finite(interval.high)}


def judge_metrics(
    judgments: list[Judgment], confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
    from ablate.analysis.fits import unscored_check_of
    from ablate.stats import unscored_rate_interval

    by_prompt = scores_by_prompt(judgments)
    summary = summarize_scores(by_prompt, confidence, resamples, seed)
    masses = [j["level_mass"] for j in judgments if j.get("level_mass") is not None]
    check = unscored_check_of(summary)
    metrics = {
        "judge_mean": _finite(summary.mean.estimate),
        "judge_ci_low": _finite(summary.mean.low),
        "judge_ci_high": _finite(summary.mean.high),
        # The t interval's centre is the mean of prompt means; beside the pooled mean it shows
        # whether unscored responses cluster on some prompts (judge_unscored_flag).
        "judge_t_mean": _finite(summary.t_interval.estimate),
        "judge_t_low": _finite(summary.t_interval.low),
        "judge_t_high": _finite(summary.t_interval.high),
        "judge_prompts": summary.n_prompts,
        "judge_scored": summary.n_scored,
        "judge_unscored": summary.n_unscored,
        "judge_unscored_rate": summary.n_unscored / max(1, len(judgments)),
        "judge_unscored_flag": int(check.flagged),
        "judge_unscored_check": check.text,
        "judge_level_mass": sum(masses) / len(masses) if masses else None,
    }
    metrics |= _interval_metrics(
        "judge_unscored_rate",
        lambda: unscored_rate_interval(by_prompt, confidence, resamples, seed),
    )
    return metrics


def heldout_metrics(
    rows: list[HeldoutRow], confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
    """The held-out loss's interval over prompts, from its per-prompt loss sums and tokens."""
    from ablate.stats import heldout_loss_interval

    rows = [r for r in rows if r["tokens"] > 0]
    means = [r["loss_sum"] / r["tokens"] for r in rows]
    tokens = [r["tokens"] for r in rows]
    return _interval_metrics(
        "heldout_loss",
        lambda: heldout_loss_interval(means, tokens, confidence, resamples, seed),
    )


def task_metrics(
    rows: list[TaskRow], confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
    """Per task: accuracy over its responses, its interval resampling prompts (a prompt's
    samples share its difficulty; Clopper-Pearson over prompts at 0 or 1), and its prompts."""
    from ablate.stats import cluster_bootstrap_share

    by_task: dict[str, dict[str, list[str | None]]] = defaultdict(lambda: defaultdict(list))
    unread: dict[str, int] = defaultdict(int)
    for row in rows:
        by_task[row["task"]][row["prompt_id"]].append("correct" if row["correct"] else "wrong")
        unread[row["task"]] += row["reason"] is not None
    metrics: dict[str, Any] = {}
    for task, by_prompt in by_task.items():
        verdicts = list(by_prompt.values())
        n = sum(len(p) for p in verdicts)
        prefix = f"task_{task}_accuracy"
        metrics[prefix] = sum(p.count("correct") for p in verdicts) / n
        share = partial(cluster_bootstrap_share, verdicts, "correct", confidence, resamples, seed)
        metrics |= _interval_metrics(prefix, share)
        metrics[f"task_{task}_prompts"] = len(verdicts)
        # Responses with no readable answer (no number, no letter): counted wrong, shown apart.
        metrics[f"task_{task}_unreadable_rate"] = unread[task] / n
    return metrics


def sample_metrics(samples: list[Sample]) -> dict[str, Any]:
    n = max(1, len(samples))
    return {
        "samples": len(samples),
        "response_tokens_mean": sum(s["n_tokens"] for s in samples) / n,
        "response_stopped_rate": sum(bool(s["stopped"]) for s in samples) / n,
    }


# Verdict values each mode reports shares of (win/tie/lose for pairwise, LIMA's preference
# study; excellent/pass/fail for absolute grading, LIMA section 4.3).


def verdicts_by_prompt(judgments: list[Judgment]) -> list[list[str | None]]:
    grouped: dict[str, list[str | None]] = defaultdict(list)
    for j in judgments:
        grouped[j["prompt_id"]].append(j.get("verdict") if j["scored"] else None)
    return list(grouped.values())


def outcome_metrics(
    judgments: list[Judgment], mode: str, confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
    """Share of each outcome among scored judgments, with an interval that resamples prompts
    (the samples of one prompt are correlated: Wilson over responses would under-cover)."""
    from ablate.stats import cluster_bootstrap_share

    spec = judge_mode(mode)
    if not spec.outcomes:
        return {}
    scored = [j for j in judgments if j["scored"]]
    by_prompt = verdicts_by_prompt(judgments)
    metrics: dict[str, Any] = {}
    for outcome in spec.outcomes:
        k = sum(j.get("verdict") == outcome for j in scored)
        metrics[f"judge_{outcome}_count"] = k
        if scored:
            metrics[f"judge_{outcome}_rate"] = k / len(scored)
            share = partial(
                cluster_bootstrap_share, by_prompt, outcome, confidence, resamples, seed
            )
            metrics |= _interval_metrics(f"judge_{outcome}_rate", share)
    if spec.paired:
        pairs = [j for j in scored if "position_consistent" in j]
        consistent = sum(bool(j["position_consistent"]) for j in pairs)
        metrics["judge_position_consistency"] = consistent / len(pairs) if pairs else None
    return metrics


def accounting_metrics(
    accounting: dict[str, Any],
    judgments: list[Judgment],
    price_prompt: float | None,
    price_completion: float | None,
) -> dict[str, Any]:
    """The judge's own accounting plus the cost of the tokens it paid for (not cache hits)."""
    metrics = {
        k: v for k, v in accounting.items() if k.startswith("judge_") and k != "judge_cost_usd"
    }
    unscored = sum(not j["scored"] for j in judgments)
    metrics |= {
        "judge_unscored": unscored,
        "judge_unscored_rate": unscored / max(1, len(judgments)),
    }
    if price_prompt is not None and price_completion is not None:
        prompt = accounting.get("judge_prompt_tokens", 0) or 0
        completion = accounting.get("judge_completion_tokens", 0) or 0
        metrics["judge_cost_usd"] = (prompt * price_prompt + completion * price_completion) / 1e6
    return metrics


def run_score(ctx: TrialContext, out: Path) -> None:
    e, j = ctx.config.evaluation, ctx.config.judge
    judgments = read_judgments(ctx.stage_path("judge", JUDGMENTS))
    metrics: dict[str, Any] = judge_metrics(
        judgments, e.confidence, e.bootstrap_resamples, ctx.trial.seed
    )
    metrics |= outcome_metrics(
        judgments, j.mode, e.confidence, e.bootstrap_resamples, ctx.trial.seed
    )
    accounting = read_json(ctx.stage_path("judge", ACCOUNTING))
    metrics |= accounting_metrics(
        accounting, judgments, j.price_prompt_per_million, j.price_completion_per_million
    )
    samples = read_samples(ctx.stage_path("generate", SAMPLES))
    metrics |= sample_metrics(samples)
    metrics |= branching_metrics(samples, e.confidence, e.bootstrap_resamples, ctx.trial.seed)
    metrics |= read_json(ctx.stage_path("generate", "stats.json"))
    heldout = ctx.stage_path("generate", HELDOUT_FILE)
    if heldout.is_file():  # trials generated before per-prompt losses were kept have none
        metrics |= heldout_metrics(
            read_heldout_rows(heldout), e.confidence, e.bootstrap_resamples, ctx.trial.seed
        )
    tasks = ctx.stage_path("generate", TASKS_FILE)
    if tasks.is_file():  # only trials with evaluation.tasks have task rows
        metrics |= task_metrics(
            read_task_rows(tasks), e.confidence, e.bootstrap_resamples, ctx.trial.seed
        )
    metrics |= read_json(ctx.stage_path("train", "stats.json"))
    metrics |= data_counts(ctx)
    metrics |= dialogue_metrics(ctx)  # none without dialogue judgments
    atomic_write_json(out / METRICS, metrics)
