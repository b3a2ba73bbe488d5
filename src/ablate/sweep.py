"""The public functions behind the commands: validate, plan, run, resume, status, ui.

The driver: it plans, skips what the ledger says is done, hands the rest to the runner, then
writes summary.csv and syncs MLflow. Only this module talks to both runner and tracking.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ablate.config.load import config_to_dict, config_to_yaml, load_config
from ablate.config.schema import Config
from ablate.data.sources import fingerprints
from ablate.errors import UserError
from ablate.ledger import atomic_write_text, read_trials, trial_root, write_trial_file
from ablate.plan import Trial, duplicate_arms, plan_trials
from ablate.summary import loss_curve, trial_metrics, trial_status, write_summary

RESOLVED_CONFIG = "config.yaml"


@dataclass
class SweepOutcome:
    sweep_dir: Path
    summary: Path
    trials: int
    ran: int
    failed: list[str]
    tracking_uri: str | None
    runs_created: int


def plan_sweep(config: Config) -> list[Trial]:
    pool_fps, eval_fp = fingerprints(config.pools, config.evaluation.prompts)
    trials = plan_trials(config, pool_fps, eval_fp)
    duplicates = duplicate_arms(trials)
    if duplicates:
        pairs = ", ".join(f"{a} = {b}" for a, b in duplicates)
        raise UserError(
            f"sweep.arms: arms with identical data and settings ({pairs}); "
            "give each arm a different pool."
        )
    return trials


def load_and_plan(sweep_path: str | Path, overrides: list[str]) -> tuple[Config, list[Trial]]:
    config = load_config(sweep_path, overrides)
    return config, plan_sweep(config)


def check_models(config: Config) -> None:
    from ablate.models.load import check_available

    check_available(config.model.name_or_path, config.model.revision, "model.name_or_path")
    check_available(config.judge.model, None, "judge.model")


def _write_plan(config: Config, trials: list[Trial], sweep_dir: Path) -> None:
    resolved = config_to_dict(config)
    resolved["experiment"] = None  # already merged in: resume must not re-read it
    from omegaconf import OmegaConf

    atomic_write_text(sweep_dir / RESOLVED_CONFIG, OmegaConf.to_yaml(resolved))
    for trial in trials:
        write_trial_file(sweep_dir, trial)
        atomic_write_text(trial_root(sweep_dir, trial) / RESOLVED_CONFIG, config_to_yaml(config))


def _track(
    config: Config, trials: list[Trial], sweep_dir: Path, results_dir: Path, failed: bool
) -> tuple[str | None, int]:
    if not config.tracking.enabled:
        return None, 0
    from ablate.tracking import SweepTracker, TrialRecord, flatten, tracking_uri

    uri = tracking_uri(config.tracking.tracking_uri, results_dir)
    tracker = SweepTracker(uri, config.name, results_dir / "mlartifacts")
    params = flatten(config_to_dict(config))
    parent = tracker.parent_run_id(params)
    records = []
    for t in trials:
        metrics = trial_metrics(sweep_dir, t)
        if metrics is not None:
            numeric = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
            records.append(
                TrialRecord(
                    t.trial_id,
                    t.folder,
                    t.arm,
                    t.n_examples,
                    t.seed,
                    numeric,
                    params,
                    loss_curve(sweep_dir, t),
                )
            )
    created = sum(tracker.record_trial(parent, r) for r in records)
    tracker.log_curves(parent, records)
    tracker.finish_parent(parent, [sweep_dir / RESOLVED_CONFIG, sweep_dir / "summary.csv"], failed)
    return uri, created


def run_config(config: Config, results_dir: Path, address: str | None) -> SweepOutcome:
    trials = plan_sweep(config)
    check_models(config)
    sweep_dir = results_dir / config.name
    _write_plan(config, trials, sweep_dir)
    pending = [t for t in trials if trial_status(sweep_dir, t) != "done"]
    if pending:
        from ablate.progress import SweepProgress
        from ablate.runner import run_trials

        with SweepProgress([t.folder for t in pending], len(trials) - len(pending)) as progress:
            run_trials(config, pending, sweep_dir, address, progress.event)
    failed = [t.folder for t in trials if trial_status(sweep_dir, t) != "done"]
    summary = write_summary(sweep_dir, trials)
    uri, created = _track(config, trials, sweep_dir, results_dir, bool(failed))
    return SweepOutcome(sweep_dir, summary, len(trials), len(pending), failed, uri, created)


def run_sweep(
    sweep_path: str | Path, overrides: list[str], results_dir: Path, address: str | None
) -> SweepOutcome:
    config = load_config(sweep_path, overrides)
    return run_config(config, results_dir, address)


def resume_sweep(sweep_dir: Path, overrides: list[str], address: str | None) -> SweepOutcome:
    """Run the saved resolved config again: done stages are skipped, nothing else is special."""
    config_path = sweep_dir / RESOLVED_CONFIG
    if not config_path.is_file():
        raise UserError(
            f"{sweep_dir}: no {RESOLVED_CONFIG} here; is this a folder that "
            "`ablate run` wrote (results/<sweep name>)?"
        )
    config = load_config(config_path, overrides)
    return run_config(config, sweep_dir.parent, address)


def sweep_status(sweep_dir: Path) -> list[tuple[Trial, str]]:
    trials = read_trials(sweep_dir)
    if not trials:
        raise UserError(
            f"{sweep_dir}: no trials found; pass the folder of one sweep (results/<sweep name>)."
        )
    return [(t, trial_status(sweep_dir, t)) for t in trials]


def open_ui(results_dir: Path, port: int) -> None:
    db = results_dir / "mlflow.db"
    if not db.is_file():
        raise UserError(
            f"{db}: no MLflow store yet; run a sweep first, or set "
            "MLFLOW_TRACKING_URI and use `mlflow ui` directly."
        )
    uri = f"sqlite:///{db.resolve()}"
    subprocess.run(["mlflow", "ui", "--backend-store-uri", uri, "--port", str(port)], check=False)
