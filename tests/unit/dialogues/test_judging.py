"""Dialogue turns judged in context by the HTTP judge against a real loopback server: the
judge sees the conversation so far and the reply, and each judgment names its turn."""

from __future__ import annotations

from pathlib import Path

from ablate.config.schema import JudgeConfig
from ablate.dialogues.judging import judge_turns, transcript, turn_samples
from ablate.judge.openai_backend import judge_from_config
from ablate.records import DialogueTurn
from tests.support.chat_server import ChatServer, Ok, RecordedRequest

ROWS: list[DialogueTurn] = [
    {
        "conversation": "rome",
        "turn": 1,
        "context": [{"role": "user", "content": "Plan a day in Rome."}],
        "response": "See the Forum.",
        "n_tokens": 4,
        "stopped": True,
    },
    {
        "conversation": "rome",
        "turn": 2,
        "context": [
            {"role": "user", "content": "Plan a day in Rome."},
            {"role": "assistant", "content": "See the Forum."},
            {"role": "user", "content": "Make it cheaper."},
        ],
        "response": "Walk everywhere.",
        "n_tokens": 3,
        "stopped": False,
    },
]


def test_transcript_labels_each_turn() -> None:
    assert transcript(ROWS[1]["context"]) == (
        "[User]\nPlan a day in Rome.\n\n[Assistant]\nSee the Forum.\n\n[User]\nMake it cheaper."
    )
    samples = turn_samples(ROWS)
    assert [(s["prompt_id"], s["sample"]) for s in samples] == [("rome", 1), ("rome", 2)]
    assert samples[1]["response"] == "Walk everywhere."


def grade(request: RecordedRequest) -> Ok:
    text = request.messages[-1]["content"]
    return Ok("Builds on turn 1.\nExcellent") if "[Assistant]" in text else Ok("Hmm, not sure")


def test_turns_are_judged_in_context_or_unscored_with_a_reason(tmp_path: Path) -> None:
    with ChatServer(default=grade) as server:
        cfg = JudgeConfig(backend="openai", model="j", mode="dialogue", base_url=server.url)
        cfg.api_key_env, cfg.timeout_s = None, 5.0
        judge = judge_from_config(cfg, "cpu", tmp_path / "cache.sqlite")
        judgments = judge_turns(judge, ROWS)
        sent = [r.messages[-1]["content"] for r in server.requests]
    second = next(t for t in sent if "Make it cheaper." in t)
    assert "[Conversation so far]\n[User]\nPlan a day in Rome.\n\n[Assistant]\nSee the" in second
    assert "[Assistant's reply to grade]\nWalk everywhere." in second
    first, later = judgments
    assert (first["conversation"], first["turn"], first["scored"]) == ("rome", 1, False)
    assert "no verdict" in (first["reason"] or "")  # asked again once (repair), still none
    assert (later["turn"], later["verdict"], later["score"]) == (2, "excellent", 1.0)
    assert later["mode"] == "dialogue" and later["template_version"] == "dialogue-v1"
