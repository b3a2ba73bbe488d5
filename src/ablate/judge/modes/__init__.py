"""Judge modes by plain name (CONTRIBUTING.md, principle 8 and 11): each mode is one spec
(ablate.judge.modes.spec.JudgeMode) in its own module, imported when used."""

from __future__ import annotations

import importlib

from ablate.judge.modes.spec import JudgeMode
from ablate.registry import Registry

JUDGE_MODES: Registry[str] = Registry("judge mode")
JUDGE_MODES.register("likert")("ablate.judge.modes.likert")
JUDGE_MODES.register("pairwise")("ablate.judge.modes.pairwise")
JUDGE_MODES.register("absolute")("ablate.judge.modes.absolute")
JUDGE_MODES.register("safety")("ablate.judge.modes.safety")
JUDGE_MODES.register("dialogue")("ablate.judge.modes.dialogue")


def judge_mode(name: str) -> JudgeMode:
    """The spec of a registered mode (a UserError with "did you mean" for another name)."""
    mode: JudgeMode = importlib.import_module(JUDGE_MODES.get(name)).MODE
    return mode
