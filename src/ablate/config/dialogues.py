"""evaluation.dialogues checked: its file, its limits, and a judge that can grade the turns
(README "Dialogue and safety"). The file's content is read and checked when the sweep is
planned (ablate.dialogues.sets, through the evaluation's fingerprint)."""

from __future__ import annotations

from pathlib import Path

from ablate.config.schema import Config

# The judge backends that grade dialogue turns: the chat judge renders the conversation into
# its prompt; the in-process judge reads the six likert levels only. The dialogue judge mode
# (ablate.judge.modes.dialogue) declares these as its backends.
DIALOGUE_BACKENDS = ("openai",)


def dialogue_problems(config: Config) -> list[str]:
    """Every problem of evaluation.dialogues, at its dotted path; none when it is not set."""
    dialogues = config.evaluation.dialogues
    if dialogues is None:
        return []
    where = "evaluation.dialogues"
    problems = []
    if dialogues.path is not None and not Path(dialogues.path).is_file():
        problems.append(f"{where}.path: no such file: {dialogues.path}")
    for key in ("max_turns", "max_conversations"):
        value = getattr(dialogues, key)
        if value is not None and value <= 0:
            problems.append(f"{where}.{key}: must be > 0, got {value}")
    backend = config.judge.backend
    if backend not in DIALOGUE_BACKENDS:
        problems.append(
            f"{where}: the {backend} judge does not grade dialogue turns; set judge.backend: "
            f"{' or '.join(DIALOGUE_BACKENDS)} (any OpenAI-compatible endpoint) or drop "
            "evaluation.dialogues"
        )
    return problems
