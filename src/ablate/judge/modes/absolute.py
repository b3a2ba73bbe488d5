"""LIMA's absolute grading (section 4.3): Excellent / Pass / Fail per response."""

from __future__ import annotations

import re

from ablate.judge.modes.phrases import verdict_phrase
from ablate.judge.modes.spec import JudgeMode, repair_request

_ABSOLUTE_USER = """Grade an AI assistant's response to a user's prompt with one of three \
grades:
Excellent: the response fully meets the user's needs and could hardly be improved.
Pass: the response meets the user's needs, with flaws that do not defeat its purpose.
Fail: the response does not meet the user's needs: it is wrong, off-topic, incomplete, or \
unsafe to follow.

[Prompt]
{question}

[Response]
{answer}

Reason step by step about which grade fits. Then, on the last line of your reply, print \
only the grade (Excellent, Pass or Fail) and nothing else."""

_GRADE = re.compile(
    r"(?:(?:the\s+)?(?:response|answer|grade)\s+(?:is|gets|earns)\s+(?:an?\s+)?)?"
    r"(?P<grade>excellent|pass|fail)(?:ed|es|s)?"
)


def read(line: str) -> str | None:
    match = _GRADE.fullmatch(verdict_phrase(line))
    return match["grade"] if match else None


MODE = JudgeMode(
    "absolute",
    version=1,
    scores={"excellent": 1.0, "pass": 0.5, "fail": 0.0},
    fields=("question", "answer"),
    user=_ABSOLUTE_USER,
    read=read,
    repair=repair_request("a grade", "the grade: Excellent, Pass or Fail"),
)
