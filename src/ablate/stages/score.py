"""Score: a trial's metrics from its files: the judge score with its intervals, outcome shares
and the unscored rate (prompt-resampled), judge accounting, held-out loss, task accuracies,
the branching factor (ablate.branching), training facts; for pairwise judging, the reference
responses' tokens (reference_lengths)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ablate.branching import branching_metrics
from ablate.files import atomic_write_json, read_json, write_jsonl
from ablate.judge.modes import judge_mode
from ablate.records import (
    REFERENCE_LENGTHS,
    DialogueJudgment,
    HeldoutRow,
    Judgment,
    ReferenceLength,
    Sample,
    read_heldout_rows,
    read_judgments,
    read_samples,
)
from ablate.stages.context import TrialContext
from ablate.stages.dialogue import (
    DIALOGUE_ACCOUNTING,
    DIALOGUE_JUDGMENTS,
    DIALOGUE_MODE,
    DIALOGUES_FILE,
    read_dialogue_judgments,
    read_dialogue_turns,
)
from ablate.stages.generate import HELDOUT_FILE, SAMPLES
from ablate.stages.judge import ACCOUNTING, JUDGMENTS, reference_samples, reference_variant
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
    lengths = reference_lengths(ctx, samples)
    if lengths is not None:  # pairwise only
        write_jsonl(out / REFERENCE_LENGTHS, lengths)
    atomic_write_json(out / METRICS, metrics)


def reference_lengths(ctx: TrialContext, samples: list[Sample]) -> list[ReferenceLength] | None:
    """Pairwise: each prompt's reference tokens, counted as the trial's responses are (the
    length-controlled win rate compares the two, ablate.analysis.lc_winrate): a reference
    arm's first sample carries its count; a reference file's responses are tokenized with the
    trial's own tokenizer, here in the worker, where the model is. None for another mode and
    for the reference arm's own trials (not compared with themselves).

    An added file, the metrics unchanged: the stage's version stays (a bump would re-score
    every sweep); trials scored before it have no file, and the report says so."""
    from ablate.judge.references import first_samples, references_from_file, token_counts

    j = ctx.config.judge
    if not judge_mode(j.mode).paired:
        return None
    if j.reference_arm:
        if reference_variant(j.reference_arm, ctx.trial.family) == ctx.trial.arm:
            return None
        firsts = first_samples(reference_samples(ctx))
        counts = {p: row["n_tokens"] for p, row in firsts.items()}
    else:
        references = references_from_file(Path(j.reference_file or ""), samples)
        counts = token_counts(references, _tokenizer(ctx))
    return [{"prompt_id": p, "n_tokens": n} for p, n in counts.items()]


def _tokenizer(ctx: TrialContext) -> Any:
    """The trial's tokenizer (train saved it beside the weights; the base model's, whose
    counts of plain text are the same, when the weights are gone)."""
    from ablate.models.load import load_tokenizer

    saved, m = ctx.stage_path("train", "model"), ctx.config.model
    if (saved / "tokenizer_config.json").is_file():
        return load_tokenizer(str(saved))
    return load_tokenizer(m.name_or_path, m.revision)


# --- Multi-turn dialogue (ablate.stages.dialogue): the turns' grades, scored as the prompts' are


def _renamed(metrics: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {prefix + k.removeprefix("judge_"): v for k, v in metrics.items()}


def turn_metrics(
    judgments: list[DialogueJudgment], confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
    """Each grade's share over all turns (dialogue_excellent_rate, _pass_, _fail_), the
    excellent share per turn (dialogue_turn<k>_excellent_rate), and the unscored rate, each
    with an interval resampling conversations (a conversation's turns share its topic and its
    earlier replies: they are not independent)."""
    rows: list[Any] = judgments  # a DialogueJudgment is a Judgment with its place named
    overall = judge_metrics(rows, confidence, resamples, seed)
    unscored = [f"judge_unscored{end}" for end in ("", "_rate", "_rate_ci_low", "_rate_ci_high")]
    metrics = _renamed({k: overall[k] for k in unscored if k in overall}, "dialogue_")
    metrics["dialogue_turns"] = len(judgments)
    metrics["dialogue_conversations"] = len({j["conversation"] for j in judgments})
    metrics |= _renamed(
        outcome_metrics(rows, DIALOGUE_MODE, confidence, resamples, seed), "dialogue_"
    )
    for turn in sorted({j["turn"] for j in judgments}):
        at_turn = [j for j in rows if j["turn"] == turn]
        shares = outcome_metrics(at_turn, DIALOGUE_MODE, confidence, resamples, seed)
        excellent = {k: v for k, v in shares.items() if k.startswith("judge_excellent_rate")}
        metrics |= _renamed(excellent, f"dialogue_turn{turn}_")
        metrics[f"dialogue_turn{turn}_conversations"] = len(at_turn)
    return metrics


def _cost(metrics: dict[str, Any], price_in: float | None, price_out: float | None) -> float | None:
    """Paid tokens x declared prices, as the prompts' judging is priced (judge_metrics)."""
    prompt = metrics.get("dialogue_judge_prompt_tokens")
    completion = metrics.get("dialogue_judge_completion_tokens")
    if price_in is None or price_out is None or prompt is None or completion is None:
        return None
    return (float(prompt) * price_in + float(completion) * price_out) / 1e6


def dialogue_metrics(ctx: TrialContext) -> dict[str, Any]:
    """score: the dialogue metrics, what judging the turns cost, and how long the replies ran;
    none when the trial has no dialogue judgments."""
    judged = ctx.stage_path("judge", DIALOGUE_JUDGMENTS)
    if not judged.is_file():
        return {}
    e = ctx.config.evaluation
    judgments = read_dialogue_judgments(judged)
    metrics = turn_metrics(judgments, e.confidence, e.bootstrap_resamples, ctx.trial.seed)
    metrics |= read_json(ctx.stage_path("judge", DIALOGUE_ACCOUNTING))
    j = ctx.config.judge
    cost = _cost(metrics, j.price_prompt_per_million, j.price_completion_per_million)
    if cost is not None:
        metrics["dialogue_judge_cost_usd"] = cost
    turns = read_dialogue_turns(ctx.stage_path("generate", DIALOGUES_FILE))
    n = max(1, len(turns))
    metrics["dialogue_response_tokens_mean"] = sum(t["n_tokens"] for t in turns) / n
    metrics["dialogue_response_stopped_rate"] = sum(bool(t["stopped"]) for t in turns) / n
    return metrics
