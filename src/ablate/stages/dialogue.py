"""Multi-turn dialogue (LIMA section 6; README "Dialogue and safety") in the trial's stages,
one call from each: generate continues evaluation.dialogues' conversations with the fine-tuned
model (generate/dialogues.jsonl), judge grades every assistant turn in context with LIMA's
absolute grades (judge/<name>/dialogue_judgments.jsonl), score reports the shares of each
grade over all turns and the excellent share per turn, each with an interval that resamples
conversations. A trial without dialogues writes none of these files and gets none of these
metrics.

The stage modules import this one, never the other way round; the score's part (turns'
grade shares) stands in stages/score.py beside the prompts' shares it reuses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

from ablate import layout
from ablate.files import atomic_write_json, read_jsonl, write_jsonl
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
    """generate: the conversations continued turn by turn (nothing without dialogues), with
    the model the prompts were sampled from (transformers'; with generation.backend vllm it is
    loaded again after the engine freed the GPU: these few turns run with transformers, as the
    tasks do). The caller releases the model."""
    dialogues = ctx.config.evaluation.dialogues
    if dialogues is None:
        return
    from ablate.dialogues.continuation import continue_conversations, model_replier
    from ablate.dialogues.sets import load_dialogues
    from ablate.models.generation import DecodeMeter

    replier = model_replier(ctx.finetuned(), ctx.config.generation, ctx.trial.seed, DecodeMeter())
    rows = continue_conversations(load_dialogues(dialogues), replier)
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

    cfg = ctx.config.judge
    cache = layout.trial_judge_cache(ctx.ledger.root, cfg.cache_path)
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
