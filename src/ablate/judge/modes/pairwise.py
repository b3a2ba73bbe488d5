"""LIMA's preference study: a response against a reference (another arm's response, or a
baseline file's), asked in both orders; significantly better, worse, or neither. The verdict is
A / B / tie from the judge's view; the judge maps it to win / tie / lose for the response."""

from __future__ import annotations

import re
from pathlib import Path

from ablate.config.schema import Config
from ablate.judge.modes.phrases import verdict_phrase
from ablate.judge.modes.spec import JudgeMode, repair_request
from ablate.registry import suggest

_PAIRWISE_USER = """Two AI assistants answered the same user prompt. Decide whether one \
response is significantly more helpful than the other.

Weigh whether each response does what the user asked, is correct and complete, and is clear \
and well organised. Do not let the order of the responses, their length or their labels sway \
you.

[Prompt]
{question}

[Response A]
{answer_a}

[Response B]
{answer_b}

Reason step by step. Then, on the last line of your reply, print only one of these words \
and nothing else:
A (Response A is significantly better)
B (Response B is significantly better)
tie (neither is significantly better)"""

_WHO = r"(?:(?:response|answer|assistant|output|model)\s+)?"
_BETTER = r"(?:is\s+)?(?:(?:significantly|much|clearly|substantially)\s+)?(?:better|wins)"
_WINNER = re.compile(
    rf"(?:the\s+)?(?:(?:better|winning|preferred)\s+(?:response|answer)\s+is\s+)?"
    rf"{_WHO}(?P<who>[ab])(?:\s+{_BETTER}(?:\s+than\s+{_WHO}[ab])?)?"
)
_ORDERED = re.compile(r"(?P<first>[ab])\s*>>?\s*(?P<second>[ab])")
_TIE = re.compile(
    r"tie|draw|it'?s a tie|a\s*=\s*b|equal|equally good|the same|"
    r"neither(?:\s+(?:response|answer|one))?(?:\s+is\s+(?:significantly\s+)?better)?|"
    r"both(?:\s+(?:responses|answers))?(?:\s+are)?\s+(?:equally\s+(?:good|helpful|bad)|"
    r"equal|about\s+equal|the\s+same|about\s+the\s+same|comparable)|"
    r"no\s+(?:significant\s+)?difference"
)
_PREAMBLE = re.compile(
    r"(?:therefore|thus|so|hence|overall|finally|in conclusion|in summary|final answer)\b[,\s]*"
)


def read(line: str) -> str | None:
    phrase = verdict_phrase(line)
    if _TIE.fullmatch(phrase):
        return "tie"
    ordered = _ORDERED.fullmatch(phrase)
    if ordered and ordered["first"] != ordered["second"]:
        return ordered["first"].upper()
    winner = _WINNER.fullmatch(phrase)
    return winner["who"].upper() if winner else None


def _reference_problems(config: Config) -> list[str]:
    """Exactly one reference: another arm of the sweep, or a file of baseline responses."""
    j = config.judge
    if bool(j.reference_arm) == bool(j.reference_file):
        return [
            "judge.reference_arm: pairwise needs exactly one of reference_arm "
            "(another arm of the sweep) or reference_file (baseline responses)"
        ]
    if j.reference_arm and j.reference_arm not in config.sweep.arms:
        arms = sorted(config.sweep.arms)
        return [
            f"judge.reference_arm: no arm '{j.reference_arm}' in {arms}."
            f"{suggest(j.reference_arm, arms)}"
        ]
    if j.reference_file and not Path(j.reference_file).is_file():
        return [f"judge.reference_file: no such file {j.reference_file}"]
    return []


MODE = JudgeMode(
    "pairwise",
    version=1,
    scores={"win": 1.0, "tie": 0.5, "lose": 0.0},
    paired=True,
    checks=_reference_problems,
    fields=("question", "answer_a", "answer_b"),
    user=_PAIRWISE_USER,
    read=read,
    repair=repair_request("a verdict", "one word: A, B or tie"),
)
