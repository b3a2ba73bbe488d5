"""Multi-turn records (LIMA's dialogue chains): every assistant turn is learned, nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from ablate.models.tokens import IGNORE, tokenize_record


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from ablate.models.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer()


def learned_text(tokenizer: Any, input_ids: list[int], labels: list[int]) -> str:
    return tokenizer.decode(
        [t for t, label in zip(input_ids, labels, strict=True) if label != IGNORE]
    )


def test_every_assistant_turn_is_learned_and_no_user_turn(tokenizer: Any) -> None:
    turns = ["How do I boil an egg?", "Put it in boiling water.", "For how long?", "Nine minutes."]
    example = tokenize_record(
        tokenizer, {"prompt": turns[0], "response": turns[1], "turns": turns}, 512
    )
    assert example is not None
    learned = learned_text(tokenizer, example.input_ids, example.labels)
    assert "Put it in boiling water." in learned and "Nine minutes." in learned
    assert "How do I boil an egg?" not in learned and "For how long?" not in learned


def test_the_conversation_matches_the_saved_chat_template(tokenizer: Any) -> None:
    turns = ["Hi there", "Hello!", "Tell me a fact", "Water boils at 100 C at sea level."]
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)
    ]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    example = tokenize_record(
        tokenizer, {"prompt": turns[0], "response": turns[1], "turns": turns}, 512
    )
    assert example is not None
    assert tokenizer.decode(example.input_ids) == rendered


def test_a_single_turn_record_without_turns_still_works(tokenizer: Any) -> None:
    example = tokenize_record(tokenizer, {"prompt": "Q?", "response": "A."}, 512)
    assert example is not None
    assert learned_text(tokenizer, example.input_ids, example.labels).startswith("A.")
