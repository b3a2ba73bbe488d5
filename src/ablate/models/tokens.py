"""Text to training tensors: a conversation in the chat format becomes input ids and labels
(user turns and markers masked, assistant turns learned), batches are padded, and the chat
markers a tokenizer lacks are added to it and to the model's embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ablate.models.chat import CHAT_TEMPLATE, SPECIAL_TOKENS, conversation_segments

IGNORE = -100  # label value the loss skips


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


def tokenize_turns(tokenizer: Any, turns: list[str], max_len: int) -> Example | None:
    """User turns and markers get IGNORE labels, assistant turns are learned; None when
    truncation would leave no learned token."""
    input_ids = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    labels = [IGNORE] * len(input_ids)
    for text, learned in conversation_segments(turns):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        input_ids += ids
        labels += ids if learned else [IGNORE] * len(ids)
    input_ids, labels = input_ids[:max_len], labels[:max_len]
    if all(label == IGNORE for label in labels):
        return None
    return Example(input_ids, labels)


def tokenize_example(tokenizer: Any, prompt: str, response: str, max_len: int) -> Example | None:
    return tokenize_turns(tokenizer, [prompt, response], max_len)


def tokenize_record(tokenizer: Any, record: dict[str, Any], max_len: int) -> Example | None:
    """A single-turn record, or a multi-turn one (its "turns") as one conversation."""
    turns = record.get("turns") or [record["prompt"], record["response"]]
    return tokenize_turns(tokenizer, turns, max_len)


def collate(examples: list[Example], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in examples)

    def pad(values: list[int], fill: int) -> list[int]:
        return values + [fill] * (width - len(values))

    return {
        "input_ids": torch.tensor([pad(e.input_ids, pad_id) for e in examples]),
        "attention_mask": torch.tensor([pad([1] * len(e.input_ids), 0) for e in examples]),
        "labels": torch.tensor([pad(e.labels, IGNORE) for e in examples]),
    }


def add_chat_tokens(tokenizer: Any, model: Any) -> list[int]:
    """Add the end-of-turn and role markers the tokenizer lacks (LIMA adds its EOT token)."""
    missing = [t for t in SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
        model.resize_token_embeddings(len(tokenizer))
    tokenizer.chat_template = CHAT_TEMPLATE
    return [tokenizer.convert_tokens_to_ids(t) for t in missing]
