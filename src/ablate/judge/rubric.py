"""LIMA's grading rubrics, in our own words (the LIMA paper's six levels; README, "Judging").

The likert mode's version (ablate.judge.modes.likert) is part of every judge key: editing any
text of that mode (the in-process rubric below or its chat template) must bump it, which
invalidates cached judgments and judge stages.
"""

from __future__ import annotations

LIKERT_LEVELS = ("1", "2", "3", "4", "5", "6")

# Shared by the in-process rubric and the chat template, so both judges grade on one scale.
LIKERT_SCALE = """1: The answer is off-topic, irrelevant, or stops before saying anything useful.
2: The answer touches the question but gives only some of the information the user needs.
3: The answer is relevant, clear and complete, but thin on detail.
4: The answer is relevant and detailed, but repeats itself or wanders in places.
5: The answer is relevant, detailed and insightful, but its organisation makes it hard to follow.
6: The answer is relevant, complete, insightful and well organised (headings, lists, steps)."""

# What is graded, as both likert judges show it.
QUESTION_AND_ANSWER = "[Question]\n{question}\n\n[Answer]\n{answer}"

LIKERT_RUBRIC = (
    "You are grading how helpful an AI assistant's answer is to a user's question.\n"
    "Use this six-level scale:\n"
    + LIKERT_SCALE
    + "\n\n"
    + QUESTION_AND_ANSWER
    + "\n\nThink about which level fits best, then give only the level number.\nLevel:"
)


def render_likert(question: str, answer: str) -> str:
    return LIKERT_RUBRIC.format(question=question, answer=answer)
