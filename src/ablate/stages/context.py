"""What every stage gets: the trial, its config, its ledger, where its pool is, the device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ablate.config.schema import Config
from ablate.ledger import TrialLedger
from ablate.plan import Trial

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

    def stage_path(self, stage: str, name: str) -> Path:
        return self.ledger.stage_dir(stage) / name
