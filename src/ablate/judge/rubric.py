"""LIMA's six-level helpfulness rubric, in our own words (LIMA.md, "The judge").

The version is part of every judge key: editing the text invalidates cached judgments.
"""

from __future__ import annotations

LIKERT_VERSION = 1
LIKERT_LEVELS = ("1", "2", "3", "4", "5", "6")

LIKERT_RUBRIC = """You are grading how helpful an AI assistant's answer is to a user's question.
Use this six-level scale:
1: The answer is off-topic, irrelevant, or stops before saying anything useful.
2: The answer touches the question but gives only some of the information the user needs.
3: The answer is relevant, clear and complete, but thin on detail.
4: The answer is relevant and detailed, but repeats itself or wanders in places.
5: The answer is relevant, detailed and insightful, but its organisation makes it hard to follow.
6: The answer is relevant, complete, insightful and well organised (headings, lists, steps).

[Question]
{question}

[Answer]
{answer}

Think about which level fits best, then give only the level number.
Level:"""


def render_likert(question: str, answer: str) -> str:
    return LIKERT_RUBRIC.format(question=question, answer=answer)


def rubric_version(mode: str) -> int:
    """The version of a grading mode's rubric text; part of the judge stage key."""
    return {"likert": LIKERT_VERSION}[mode]
