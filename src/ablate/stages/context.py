"""What every stage gets: the trial, its config, its ledger, where its pool is, the device,
and the fine-tuned model while one is in memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ablate.config.schema import Config
from ablate.ledger import TrialLedger
from ablate.plan import Trial

if TYPE_CHECKING:
    from ablate.models.generation import LoadedModel

StageReporter = Callable[[str], None]  # report(stage) when a stage starts
StepReporter = Callable[[int, int], None]  # on_step(step, steps) while training runs


def _no_report(stage: str) -> None:
    return None


def _no_step(step: int, steps: int) -> None:
    return None


@dataclass
class TrialContext:
    config: Config
    trial: Trial
    ledger: TrialLedger
    pool_dirs: dict[str, Path]  # the prepared pools its arm's data draws from
    device: str
    on_step: StepReporter = _no_step
    # The model the train stage just trained, handed over in memory so that generation (the
    # samples, the held-out loss, the tasks, the dialogues) does not load the saved one again.
    # Only within one run of the trial's stages: a resumed trial loads what train saved.
    trained: LoadedModel | None = field(default=None, repr=False)

    def stage_path(self, stage: str, name: str) -> Path:
        return self.ledger.stage_dir(stage) / name

    def keep_model(self, lm: LoadedModel) -> None:
        self.trained = lm

    def finetuned(self) -> LoadedModel:
        """The fine-tuned model: the one in memory, else the saved one (kept from then on)."""
        if self.trained is None:
            from ablate.models.generation import load_finetuned

            m = self.config.model
            model_dir = self.stage_path("train", "model")
            self.trained = load_finetuned(
                model_dir, m.name_or_path, m.revision, m.dtype, self.device
            )
        return self.trained

    def release_model(self) -> None:
        """Drop the model and hand its memory back (to vLLM, the judge, the next trial)."""
        from ablate.models.load import free_accelerator_memory

        self.trained = None
        free_accelerator_memory()
