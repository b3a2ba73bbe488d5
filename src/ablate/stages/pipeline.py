"""One trial's stages: select -> train -> generate -> judge -> score, talking through files.

Each stage reads the previous stage's folder and writes its own through the ledger; a stage
already done with its planned key is skipped, which is all that resume is. This package knows
nothing of Ray (the runner calls it) and nothing of MLflow (the driver tracks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablate.config.schema import Config
from ablate.errors import UserError
from ablate.files import read_json
from ablate.ledger import TrialLedger
from ablate.plan import STAGES, Trial
from ablate.stages import STAGE_TABLE
from ablate.stages.context import StageReporter, StepReporter, TrialContext, _no_report, _no_step
from ablate.stages.score import METRICS


class TrialConfigError(UserError):
    """A failure that running again cannot fix (a setting, the data): recorded, not retried."""


def run_trial(
    config: Config,
    trial: Trial,
    root: Path,
    pool_dirs: dict[str, Path],
    device: str,
    report: StageReporter = _no_report,
    on_step: StepReporter = _no_step,
) -> dict[str, Any]:
    """Run the stages not yet done; return the trial's metrics (from score/metrics.json).

    The trial folder is held (its lock) for the whole run, so a worker orphaned by a killed
    driver and the next run's worker never write it at once; _running.json says which stage
    is under way, so a worker killed without a word is told apart from a failure."""
    ledger = TrialLedger(root, trial.judge_name)
    ctx = TrialContext(config, trial, ledger, pool_dirs, device, on_step)
    with ledger.hold():
        try:
            return _run_stages(ctx, report)
        finally:
            ctx.trained = None  # a model a failed stage left in memory goes with the trial


def _run_stages(ctx: TrialContext, report: StageReporter) -> dict[str, Any]:
    """The stages not yet done, in order; the trial's metrics."""
    ledger, trial = ctx.ledger, ctx.trial
    for stage in STAGES:
        key = trial.stage_keys[stage]
        if ledger.is_done(stage, key):
            continue
        report(stage)
        ledger.mark_running(stage)
        try:
            with ledger.write_stage(stage, key) as out:
                STAGE_TABLE[stage].run(ctx, out)
        except BaseException as exc:
            # A user error's message stands on its own; a bug keeps its exception's name.
            text = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            ledger.record_failure(stage, text)
            ledger.clear_running()
            if isinstance(exc, UserError) and not isinstance(exc, TrialConfigError):
                raise TrialConfigError(str(exc)) from None
            raise
    ledger.clear_running()
    return read_json(ledger.stage_dir("score") / METRICS)
