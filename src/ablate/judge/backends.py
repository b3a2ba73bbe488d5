"""Judge backends by plain name; each is imported only when used (torch is heavy)."""

from __future__ import annotations

from ablate.registry import Registry

# name -> "module:attribute" of a factory with signature (JudgeConfig) -> Judge.
JUDGE_BACKENDS: Registry[str] = Registry("judge backend")
JUDGE_BACKENDS.register("hf")("ablate.judge.hf:HFJudge")

JUDGE_MODES = ["likert"]
