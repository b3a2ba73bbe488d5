"""LIMA's six-level helpfulness scale (section 4 of the paper, in our words): the judge reasons,
then writes a level 1-6 on its last line. The score is that level, or, where the endpoint gives
log-probabilities, the expected level under them (ablate.judge.parse.likert_from_logprobs)."""

from __future__ import annotations

import re

from ablate.judge.modes.phrases import NO_VERDICT
from ablate.judge.modes.spec import JudgeMode, repair_request
from ablate.judge.rubric import LIKERT_LEVELS, LIKERT_SCALE, QUESTION_AND_ANSWER

_LIKERT_USER = (
    """Grade how helpful the assistant's answer is to the user's question, on this \
six-level scale:
"""
    + LIKERT_SCALE
    + "\n\n"
    + QUESTION_AND_ANSWER
    + """

Reason step by step about which level fits best. Then, on the last line of your reply, \
print only the level number (1 to 6) and nothing else."""
)

_LIKERT = re.compile(
    r"(?:.*?\b(?:level|score|rating|grade|verdict|answer|rate it|give it|deserves)"
    r"\s*(?:is|of|as|=|:|-)?\s*(?:(?:an?|level)\s+)?)?"
    r"(?P<level>\d+)(?:\s*(?:/|out of)\s*6)?\W*"
)


def read(line: str) -> str | None:
    match = _LIKERT.fullmatch(line)
    # "7" or "10" is a number on the final line but not a level: no verdict, not a clamp.
    if match and match["level"] in LIKERT_LEVELS:
        return match["level"]
    return None


def why_not(line: str) -> str | None:
    # A level outside 1-6 is worth naming: it usually means the judge used another scale.
    match = _LIKERT.fullmatch(line)
    return f"{NO_VERDICT} ({match['level']} is not a level 1-6)" if match else None


MODE = JudgeMode(
    "likert",
    version=1,
    backends=("hf", "openai"),  # the in-process judge reads the six levels' probabilities
    fields=("question", "answer"),
    user=_LIKERT_USER,
    read=read,
    why_not=why_not,
    repair=repair_request("a level", "the level number (1 to 6) that your assessment supports"),
)
