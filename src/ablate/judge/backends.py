"""Judge backends by plain name; each is imported only when used (torch is heavy)."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any, Protocol

from ablate.config.schema import JudgeConfig
from ablate.errors import UserError
from ablate.records import Judgment, Sample
from ablate.registry import Registry


class Judge(Protocol):
    model_id: str

    def judge(
        self, samples: list[Sample], references: dict[str, str] | None = None
    ) -> list[Judgment]:
        """One judgment per sample, scored or unscored with a reason; never dropped."""
        ...

    def accounting(self) -> dict[str, Any]:
        """Calls made, cache hits, retries, tokens: what judging cost."""
        ...


# name -> "module:attribute" of a factory (JudgeConfig, device, cache path) -> Judge.
JUDGE_BACKENDS: Registry[str] = Registry("judge backend")
JUDGE_BACKENDS.register("hf")("ablate.judge.hf:HFJudge.from_config")
JUDGE_BACKENDS.register("openai")("ablate.judge.openai_backend:judge_from_config")


def create_judge(cfg: JudgeConfig, device: str, cache_path: Path) -> Judge:
    module_name, _, attribute = JUDGE_BACKENDS.get(cfg.backend).partition(":")
    factory: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        factory = getattr(factory, part)
    judge: Judge = factory(cfg, device, cache_path)
    return judge


def judge_fingerprint(cfg: JudgeConfig) -> str:
    """The content of the judge's template and reference files (their paths do not matter)."""
    digest = hashlib.sha256()
    for path in (cfg.template, cfg.reference_file):
        if path:
            try:
                digest.update(Path(path).read_bytes())
            except OSError as exc:
                raise UserError(f"{path}: cannot read the judge's file ({exc}).") from None
        digest.update(b"\0")
    return digest.hexdigest()[:16]
