"""Conversations continued by the fine-tuned model, turn by turn: the reply to turn k goes into
the context of turn k+1, so each turn is the model's answer to the conversation as it went, not
to a gold history. All conversations' turn k are sampled as one batch (conversations differ in
length: those that ended drop out).

Decoding is the generation section's (LIMA's sampling by default), one reply per turn, seeded
by the trial and the turn."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from ablate.config.schema import GenerationConfig
from ablate.dialogues.sets import Conversation
from ablate.models.chat import ASSISTANT, END_OF_TURN, USER, conversation_segments
from ablate.records import DialogueTurn

if TYPE_CHECKING:
    from ablate.models.generation import DecodeMeter, LoadedModel

Message = dict[str, str]  # {"role": "user" | "assistant", "content": ...}
Reply = tuple[str, int, bool]  # the reply's text, its token count, ended with a stop token
# (the contexts of one turn, each ending with a user message; the turn, from 1) -> replies
Replier = Callable[[list[list[Message]], int], list[Reply]]


def chat_prompt(messages: list[Message]) -> str:
    """A conversation in the chat format (ablate.models.chat), the assistant's turn opened."""
    roles = [m["role"] for m in messages]
    if roles != ["user", "assistant"] * (len(roles) // 2) + ["user"]:
        raise ValueError(f"a context alternates user and assistant and ends with user: {roles}")
    return "".join(text for text, _ in conversation_segments([m["content"] for m in messages]))


def as_user_prompt(messages: list[Message]) -> str:
    """The one user "prompt" whose single-turn chat text (models.chat.prompt_text, what
    generation formats each prompt with) is the whole conversation's chat text, character for
    character: the earlier turns, with their markers, sit inside it."""
    text, head, tail = chat_prompt(messages), f"{USER}\n", f"{END_OF_TURN}\n{ASSISTANT}\n"
    return text[len(head) : -len(tail)]


def continue_conversations(
    conversations: list[Conversation], replier: Replier
) -> list[DialogueTurn]:
    """One row per assistant turn, conversation by conversation, turns in order."""
    histories: list[list[Message]] = [[] for _ in conversations]
    rows: list[list[DialogueTurn]] = [[] for _ in conversations]
    longest = max((len(c["turns"]) for c in conversations), default=0)
    for turn in range(1, longest + 1):
        active = [i for i, c in enumerate(conversations) if len(c["turns"]) >= turn]
        contexts = [
            [*histories[i], {"role": "user", "content": conversations[i]["turns"][turn - 1]}]
            for i in active
        ]
        replies = replier(contexts, turn)
        for i, context, (text, n_tokens, stopped) in zip(active, contexts, replies, strict=True):
            rows[i].append(
                {
                    "conversation": conversations[i]["id"],
                    "turn": turn,
                    "context": context,
                    "response": text,
                    "n_tokens": n_tokens,
                    "stopped": stopped,
                }
            )
            histories[i] = [*context, {"role": "assistant", "content": text}]
    return [row for conversation in rows for row in conversation]


def turn_seed(seed: int, turn: int) -> int:
    # 1009 (a prime) > any conversation's length: (seed, turn) pairs never share a seed.
    return seed * 1009 + turn


def model_replier(
    lm: LoadedModel, generation: GenerationConfig, seed: int, meter: DecodeMeter
) -> Replier:
    """Replies sampled from a loaded model with the generation settings, one per context."""
    from ablate.models.generation import generate_samples

    one_each = dataclasses.replace(generation, samples_per_prompt=1)

    def reply(contexts: list[list[Message]], turn: int) -> list[Reply]:
        prompts = [{"id": str(i), "prompt": as_user_prompt(c)} for i, c in enumerate(contexts)]
        samples = generate_samples(lm, prompts, one_each, turn_seed(seed, turn), meter)
        return [(s["response"], s["n_tokens"], s["stopped"]) for s in samples]

    return reply
