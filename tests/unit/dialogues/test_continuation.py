"""Conversations continued turn by turn: each turn's context holds the model's own earlier
replies, in the chat format generation uses."""

from __future__ import annotations

import pytest

from ablate.dialogues.continuation import (
    Message,
    Reply,
    as_user_prompt,
    chat_prompt,
    continue_conversations,
)
from ablate.dialogues.sets import Conversation
from ablate.models.chat import ASSISTANT, END_OF_TURN, USER, prompt_text

CONVERSATIONS: list[Conversation] = [
    {"id": "long", "turns": ["Plan a day in Rome.", "Make it cheaper.", "Sum it up."]},
    {"id": "short", "turns": ["Say hi."]},
]


class FakeModel:
    """Replies naming the turn and the conversation's first words; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, list[list[Message]]]] = []

    def __call__(self, contexts: list[list[Message]], turn: int) -> list[Reply]:
        self.asked.append((turn, contexts))
        return [(f"reply {turn} to {c[0]['content'][:5]}", 3, True) for c in contexts]


def test_turn_two_sees_the_reply_to_turn_one() -> None:
    model = FakeModel()
    rows = continue_conversations(CONVERSATIONS, model)
    assert [(r["conversation"], r["turn"]) for r in rows] == [
        ("long", 1),
        ("long", 2),
        ("long", 3),
        ("short", 1),
    ]
    second = rows[1]
    assert second["context"] == [
        {"role": "user", "content": "Plan a day in Rome."},
        {"role": "assistant", "content": "reply 1 to Plan "},
        {"role": "user", "content": "Make it cheaper."},
    ]
    assert rows[2]["context"][3] == {"role": "assistant", "content": second["response"]}
    # One batch per turn; a conversation that ended is not asked again.
    assert [(turn, len(contexts)) for turn, contexts in model.asked] == [(1, 2), (2, 1), (3, 1)]
    assert rows[3] == {
        "conversation": "short",
        "turn": 1,
        "context": [{"role": "user", "content": "Say hi."}],
        "response": "reply 1 to Say h",
        "n_tokens": 3,
        "stopped": True,
    }


def test_the_conversation_is_formatted_as_in_training() -> None:
    messages: list[Message] = [
        {"role": "user", "content": "Plan a day."},
        {"role": "assistant", "content": "See the Forum."},
        {"role": "user", "content": "Cheaper?"},
    ]
    expected = (
        f"{USER}\nPlan a day.{END_OF_TURN}\n{ASSISTANT}\nSee the Forum.{END_OF_TURN}\n"
        f"{USER}\nCheaper?{END_OF_TURN}\n{ASSISTANT}\n"
    )
    assert chat_prompt(messages) == expected
    # Generation wraps each prompt as one user turn: the wrapped text is the whole conversation.
    assert prompt_text(as_user_prompt(messages)) == expected
    assert prompt_text(as_user_prompt(messages[:1])) == prompt_text("Plan a day.")


def test_a_context_must_end_with_the_user() -> None:
    with pytest.raises(ValueError, match="ends with user"):
        chat_prompt([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
