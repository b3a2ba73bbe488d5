"""Dialogue turns graded in context by a judge backend, in the dialogue mode
(ablate.judge.modes.dialogue): each turn becomes a judge sample whose prompt is the conversation
so far and whose response is the model's reply, so the backend's cache, repair request and
unscored-with-a-reason apply as to any response. The judgment's prompt_id is the
conversation's id and its sample the turn, so outcome shares resample conversations."""

from __future__ import annotations

from ablate.judge.backends import Judge
from ablate.records import DialogueJudgment, DialogueTurn, Sample

_LABELS = {"user": "User", "assistant": "Assistant"}


def transcript(messages: list[dict[str, str]]) -> str:
    """The conversation as the judge reads it: each turn under its speaker's label."""
    return "\n\n".join(f"[{_LABELS[m['role']]}]\n{m['content']}" for m in messages)


def turn_samples(rows: list[DialogueTurn]) -> list[Sample]:
    return [
        {
            "prompt_id": row["conversation"],
            "prompt": transcript(row["context"]),
            "sample": row["turn"],
            "response": row["response"],
            "n_tokens": row["n_tokens"],
            "stopped": row["stopped"],
        }
        for row in rows
    ]


def judge_turns(judge: Judge, rows: list[DialogueTurn]) -> list[DialogueJudgment]:
    """One judgment per turn, in the rows' order, scored or unscored with a reason."""
    judgments = judge.judge(turn_samples(rows))
    return [
        {**judgment, "conversation": row["conversation"], "turn": row["turn"]}
        for judgment, row in zip(judgments, rows, strict=True)
    ]
