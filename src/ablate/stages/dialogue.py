"""Multi-turn dialogue (LIMA section 6; README "Dialogue and safety") in the trial's stages,
one call from each: generate continues evaluation.dialogues' conversations with the fine-tuned
model (generate/dialogues.jsonl), judge grades every assistant turn in context with LIMA's
absolute grades (judge/<name>/dialogue_judgments.jsonl), score reports the shares of each
grade over all turns and the excellent share per turn, each with an interval that resamples
conversations. A trial without dialogues writes none of these files and gets none of these
metrics.

The stage modules import this one, so it imports theirs inside the functions."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

from ablate.files import atomic_write_json, read_json, read_jsonl, write_jsonl
from ablate.records import DialogueJudgment, DialogueTurn
from ablate.stages.context import TrialContext

DIALOGUES_FILE = "dialogues.jsonl"  # generate/: one row per assistant turn
DIALOGUE_JUDGMENTS = "dialogue_judgments.jsonl"  # judge/<name>/: one judgment per turn
DIALOGUE_ACCOUNTING = "dialogue_accounting.json"  # judge/<name>/: what judging them cost
DIALOGUE_MODE = "dialogue"  # ablate.judge.modes.dialogue


def read_dialogue_turns(path: Path) -> list[DialogueTurn]:
    return cast(list[DialogueTurn], read_jsonl(path))


def read_dialogue_judgments(path: Path) -> list[DialogueJudgment]:
    return cast(list[DialogueJudgment], read_jsonl(path))


def write_dialogues(ctx: TrialContext, out: Path) -> None:
    """generate: the conversations continued turn by turn (nothing without dialogues). The
    model is loaded here, after the prompts' generation freed theirs; with generation.backend
    vllm these few turns still run with transformers, as the tasks do."""
    dialogues = ctx.config.evaluation.dialogues
    if dialogues is None:
        return
    from ablate.dialogues.continuation import continue_conversations, model_replier
    from ablate.dialogues.sets import load_dialogues
    from ablate.models.generation import DecodeMeter, load_finetuned
    from ablate.models.load import free_accelerator_memory

    m = ctx.config.model
    model_dir = ctx.stage_path("train", "model")
    lm = load_finetuned(model_dir, m.name_or_path, m.revision, m.dtype, ctx.device)
    replier = model_replier(lm, ctx.config.generation, ctx.trial.seed, DecodeMeter())
    rows = continue_conversations(load_dialogues(dialogues), replier)
    del lm, replier  # the last references: the weights can leave the GPU for the judge
    free_accelerator_memory()
    write_jsonl(out / DIALOGUES_FILE, rows)


def judge_dialogues(ctx: TrialContext, out: Path) -> None:
    """judge: every dialogue turn graded in context by the trial's judge (its backend, endpoint,
    cache and decoding) in the dialogue mode; nothing when the trial generated no dialogues.
    An outage leaves the stage undone, as for the prompts' judgments."""
    turns = ctx.stage_path("generate", DIALOGUES_FILE)
    if not turns.is_file():
        return
    from ablate.dialogues.judging import judge_turns
    from ablate.judge.backends import create_judge
    from ablate.stages.judge import judge_cache_path

    cfg = ctx.config.judge
    cache = Path(cfg.cache_path) if cfg.cache_path else judge_cache_path(ctx.ledger.root)
    # The prompts' template file (judge.template) is written for judge.mode, not for turns.
    turn_judge = dataclasses.replace(cfg, mode=DIALOGUE_MODE, template=None)
    judge = create_judge(turn_judge, ctx.device, cache)
    judgments = judge_turns(judge, read_dialogue_turns(turns))
    failed = [j["reason"] for j in judgments if "judge call failed" in (j.get("reason") or "")]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(judgments)} dialogue judge calls failed for good (first: "
            f"{failed[0]}); `ablate resume` asks only those again"
        )
    write_jsonl(out / DIALOGUE_JUDGMENTS, judgments)
    accounting = {f"dialogue_{k}": v for k, v in judge.accounting().items()}
    atomic_write_json(out / DIALOGUE_ACCOUNTING, accounting)


def _renamed(metrics: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {prefix + k.removeprefix("judge_"): v for k, v in metrics.items()}


def turn_metrics(
    judgments: list[DialogueJudgment], confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
    """Each grade's share over all turns (dialogue_excellent_rate, _pass_, _fail_), the
    excellent share per turn (dialogue_turn<k>_excellent_rate), and the unscored rate, each
    with an interval resampling conversations (a conversation's turns share its topic and its
    earlier replies: they are not independent)."""
    from ablate.stages.score import judge_metrics, outcome_metrics

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
    """Paid tokens x declared prices, as the prompts' judging is priced (stages/score.py)."""
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
