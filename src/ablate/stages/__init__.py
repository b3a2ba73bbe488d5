"""The stages of a trial, in one table: each stage's name, code version, whether it is per
judge, and the function that runs it. The plan keys each stage with its version (bump it when
the stage's code changes its output, so old results are not reused)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate.config.schema import Config
from ablate.plan import JUDGED_STAGES, STAGES, CodeVersions

if TYPE_CHECKING:
    from ablate.stages.context import TrialContext


@dataclass(frozen=True)
class Stage:
    name: str
    version: int
    per_judge: bool  # its folder is stage/<judge name>/, so judges sit side by side
    runner: str  # "module:function", imported when the stage runs (torch is heavy)

    def run(self, ctx: TrialContext, out: Path) -> None:
        import importlib

        module, _, function = self.runner.partition(":")
        runner: Callable[[TrialContext, Path], None] = getattr(
            importlib.import_module(module), function
        )
        runner(ctx, out)


STAGE_TABLE = {
    s.name: s
    for s in (
        Stage("select", 1, False, "ablate.stages.select:run_select"),
        # 2: micro-batches grouped by length (training.group_by_length, on by default); LoRA
        # trains the added markers' rows of an untied output layer too, and saves only them.
        Stage("train", 2, False, "ablate.stages.train:run_train"),
        # 2: prompts batched by length (other batches draw other samples), no top-k cut.
        Stage("generate", 2, False, "ablate.stages.generate:run_generate"),
        Stage("judge", 1, True, "ablate.stages.judge:run_judge"),
        # 2: prompt-resampled intervals for outcome shares, the unscored rate and the held-out
        # loss, the mean of prompt means and the unscored flag.
        Stage("score", 2, True, "ablate.stages.score:run_score"),
    )
}
# The plan chains the keys in this order; the table and the plan must agree.
assert tuple(STAGE_TABLE) == STAGES
assert tuple(s.name for s in STAGE_TABLE.values() if s.per_judge) == JUDGED_STAGES


def stage_versions() -> dict[str, int]:
    return {name: stage.version for name, stage in STAGE_TABLE.items()}


def code_versions(config: Config) -> CodeVersions:
    """The code versions a config's trials depend on, from the components that own them."""
    from ablate.judge.modes import judge_mode
    from ablate.judge.parse import PARSER_VERSION
    from ablate.models.chat import TEMPLATE_VERSION
    from ablate.models.tiny import builtin_version

    rubric: Any = judge_mode(config.judge.mode).version
    if config.evaluation.dialogues is not None:  # its turns are judged in the dialogue mode too
        rubric = [rubric, judge_mode("dialogue").version]
    return CodeVersions(
        stage_versions(),
        TEMPLATE_VERSION,
        PARSER_VERSION,
        rubric,
        builtin_version(config.model.name_or_path),
        builtin_version(config.judge.model),
    )
