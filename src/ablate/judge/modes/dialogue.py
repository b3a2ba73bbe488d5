"""LIMA's multi-turn check (section 6): one assistant turn of a conversation graded in context
with LIMA's absolute grades, Excellent / Pass / Fail. The judge sees the conversation so far
(earlier turns, the model's own replies among them, and the user's last message) and the
reply to grade.

Not a judge.mode for the evaluation prompts: the judge stage grades evaluation.dialogues' turns
in this mode (ablate.dialogues), beside whatever mode grades the prompts. The field `question`
holds the conversation so far, rendered by ablate.dialogues.judging.transcript: a turn is
judged through the same machinery as a response to a prompt (cache, repair, unscored with a
reason)."""

from __future__ import annotations

from ablate.config.dialogues import DIALOGUE_BACKENDS
from ablate.config.schema import Config
from ablate.judge.modes.absolute import MODE as ABSOLUTE
from ablate.judge.modes.spec import JudgeMode

_DIALOGUE_USER = """Grade the last reply of an AI assistant in a conversation with a user, with \
one of three grades:
Excellent: the reply fully meets the user's needs at this point of the conversation: it takes \
what was said before into account and could hardly be improved.
Pass: the reply meets the user's needs, with flaws that do not defeat its purpose.
Fail: the reply does not meet the user's needs: it is wrong, off-topic, incomplete, ignores or \
contradicts the conversation so far, or is unsafe to follow.

[Conversation so far]
{question}

[Assistant's reply to grade]
{answer}

Reason step by step about which grade fits. Then, on the last line of your reply, print \
only the grade (Excellent, Pass or Fail) and nothing else."""


def _not_for_prompts(config: Config) -> list[str]:
    # Run only when judge.mode is "dialogue": single prompts are not conversations to grade.
    return [
        "judge.mode: 'dialogue' grades the turns of evaluation.dialogues, which the judge stage "
        "does beside the prompts' mode; set evaluation.dialogues and keep judge.mode one of "
        "likert, absolute, pairwise or safety"
    ]


MODE = JudgeMode(
    "dialogue",
    version=1,
    fields=("question", "answer"),
    user=_DIALOGUE_USER,
    # LIMA's absolute grades, read and repaired as the absolute mode does
    scores=ABSOLUTE.scores,
    read=ABSOLUTE.read,
    repair=ABSOLUTE.repair,
    backends=DIALOGUE_BACKENDS,
    checks=_not_for_prompts,
)
