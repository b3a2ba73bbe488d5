"""The chat format for fine-tuning and generation: LIMA's end-of-turn marker between turns.

One Python function and one Jinja template say the same thing: the function is what training
and generation use (clear, testable); the template is saved with each fine-tuned tokenizer
so `apply_chat_template` works for whoever loads the model later. A test keeps them equal.
"""

from __future__ import annotations

USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END_OF_TURN = "<|eot|>"
SPECIAL_TOKENS = [USER, ASSISTANT, END_OF_TURN]
TEMPLATE_VERSION = 1

CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}" + USER + "\n{{ m['content'] }}" + END_OF_TURN + "\n"
    "{% else %}" + ASSISTANT + "\n{{ m['content'] }}" + END_OF_TURN + "\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT + "\n{% endif %}"
)


def prompt_text(prompt: str) -> str:
    """A user turn followed by the opening of the assistant turn."""
    return f"{USER}\n{prompt}{END_OF_TURN}\n{ASSISTANT}\n"


def response_text(response: str) -> str:
    """The assistant's part that carries the loss: its words and the end-of-turn marker."""
    return f"{response}{END_OF_TURN}\n"


def conversation_segments(turns: list[str]) -> list[tuple[str, bool]]:
    """(text, carries loss) pieces of alternating user/assistant turns: every assistant turn
    is learned (LIMA's dialogue chains), every user turn and role marker is context."""
    segments = []
    for index, turn in enumerate(turns):
        if index % 2 == 0:
            segments.append((prompt_text(turn), False))
        else:
            segments.append((response_text(turn), True))
    return segments
