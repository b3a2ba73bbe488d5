"""The records stages hand each other through files: a generated sample, a judge call, a
judgment, a held-out loss row. Typed dicts rather than classes because they are JSON lines on
disk first: a stage reads another stage's file (possibly written by an older version) and
mypy checks every key it touches."""

from __future__ import annotations

from pathlib import Path
from typing import NotRequired, TypedDict, cast

from ablate.files import read_jsonl


class Sample(TypedDict):
    """One response of the fine-tuned model to one evaluation prompt (generate/samples.jsonl)."""

    prompt_id: str
    prompt: str
    sample: int  # 0..samples_per_prompt-1
    response: str
    n_tokens: int
    stopped: bool  # ended with the end-of-turn token, not the token limit
    # hf backend: the model's own next-token entropy (nats) summed over the response's
    # positions and over its first ones (ablate.branching.SampleEntropy); absent from samples
    # written before they were kept and from the vllm backend's (top log-probabilities only).
    entropy_sum: NotRequired[float]
    entropy_tokens: NotRequired[int]
    entropy_first_sum: NotRequired[float]
    entropy_first_tokens: NotRequired[int]


class HeldoutRow(TypedDict):
    """One evaluation prompt's reference response under the model (generate/heldout_losses)."""

    prompt_id: str
    loss_sum: float
    tokens: int


class JudgeCall(TypedDict):
    """One request to an HTTP judge and what came back (kept whole: principle 6)."""

    messages: list[dict[str, str]]
    reply: str | None
    usage: dict[str, int | None] | None
    served_model: str | None
    cached: bool
    retries: int
    maybe_repaid: int  # sendings whose reply may have been billed unseen
    repair: bool  # the second request after an unreadable reply
    verdict: str | None
    error: str | None
    order: NotRequired[str]  # pairwise: model_first or reference_first


class Judgment(TypedDict):
    """One sample's judgment (judge/judgments.jsonl): scored, or unscored with a reason."""

    prompt_id: str
    sample: int
    score: float | None
    scored: bool
    reason: str | None
    judge_backend: str
    judge_model: str
    verdict: NotRequired[str | None]
    mode: NotRequired[str]
    calls: NotRequired[list[JudgeCall]]
    served_model: NotRequired[str | None]
    template_version: NotRequired[str]
    parser_version: NotRequired[int]
    # likert: probability of each level 1..6 (from logprobs or the in-process judge)
    distribution: NotRequired[dict[str, float] | None]
    # pairwise: both orders' outcomes, and whether they agreed
    position_consistent: NotRequired[bool | None]
    order_verdicts: NotRequired[list[str] | None]
    # in-process judge: the mass on the six levels, its prompt, whether the answer was cut
    level_mass: NotRequired[float]
    rubric_version: NotRequired[int]
    judge_prompt: NotRequired[str]
    answer_truncated: NotRequired[bool]


REFERENCE_LENGTHS = "reference_lengths.jsonl"  # score/<judge>/: pairwise trials only


class ReferenceLength(TypedDict):
    """Pairwise: one prompt's reference response and its tokens, counted as Sample.n_tokens
    is (score/<judge>/reference_lengths.jsonl; the length-controlled win rate's baseline)."""

    prompt_id: str
    n_tokens: int


class DialogueTurn(TypedDict):
    """One assistant turn of an evaluation conversation, continued by the fine-tuned model
    (generate/dialogues.jsonl): the messages before it (the model's own earlier replies among
    them, ending with the user's turn) and its reply."""

    conversation: str  # the conversation's id
    turn: int  # 1 for the reply to the first user message
    context: list[dict[str, str]]  # chat messages {"role": "user" | "assistant", "content"}
    response: str
    n_tokens: int
    stopped: bool  # ended with the end-of-turn token, not the token limit


class DialogueJudgment(Judgment):
    """One dialogue turn's judgment in context (judge/<name>/dialogue_judgments.jsonl):
    prompt_id is the conversation's id and sample its turn, so prompt-resampling helpers
    resample conversations."""

    conversation: str
    turn: int


def read_samples(path: Path) -> list[Sample]:
    return cast(list[Sample], read_jsonl(path))


def read_judgments(path: Path) -> list[Judgment]:
    return cast(list[Judgment], read_jsonl(path))


def read_heldout_rows(path: Path) -> list[HeldoutRow]:
    return cast(list[HeldoutRow], read_jsonl(path))
