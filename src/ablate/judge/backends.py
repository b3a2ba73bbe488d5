"""Judge backends by plain name; each is imported only when used (torch is heavy)."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from ablate.config.schema import JudgeConfig
from ablate.registry import Registry


class Judge(Protocol):
    model_id: str

    def judge(self, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One judgment per sample, scored or unscored with a reason; never dropped."""
        ...


# name -> "module:attribute" of a factory (JudgeConfig, device) -> Judge.
JUDGE_BACKENDS: Registry[str] = Registry("judge backend")
JUDGE_BACKENDS.register("hf")("ablate.judge.hf:HFJudge.from_config")

JUDGE_MODES = ["likert"]


def create_judge(cfg: JudgeConfig, device: str) -> Judge:
    module_name, _, attribute = JUDGE_BACKENDS.get(cfg.backend).partition(":")
    factory: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        factory = getattr(factory, part)
    return factory(cfg, device)
