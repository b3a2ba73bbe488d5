"""MLflow, written by the driver only: one experiment per sweep, a parent run per sweep, a
child run per trial, and the parent's scaling curves (step = number of training examples).

Every write is idempotent: runs are found by tag before they are created and curve points are
logged only where missing, so running a sweep again adds no run and no duplicate point.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SWEEP_TAG, TRIAL_TAG, ROLE_TAG = "ablate.sweep", "ablate.trial_id", "ablate.role"
CURVE_METRICS = ("judge_mean", "judge_ci_low", "judge_ci_high", "heldout_loss")
MAX_PARAMS_PER_BATCH = 100  # MLflow's limit per log_batch call


@dataclass
class TrialRecord:
    trial_id: str
    folder: str
    arm: str
    n_examples: int
    seed: int
    metrics: dict[str, float]
    params: dict[str, str]
    loss_curve: list[tuple[int, float]] = field(default_factory=list)


def tracking_uri(configured: str | None, results_dir: Path) -> str:
    """The sweep's setting, else $MLFLOW_TRACKING_URI, else a SQLite file in the results dir."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    return configured or env or f"sqlite:///{(results_dir / 'mlflow.db').resolve()}"


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def curve_points(records: list[TrialRecord]) -> dict[str, dict[int, float]]:
    """metric.arm -> {n_examples: value}, averaged over seeds (one point per size)."""
    sums: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in records:
        for metric in CURVE_METRICS:
            if r.metrics.get(metric) is not None:
                sums[(f"{metric}.{r.arm}", r.n_examples)].append(r.metrics[metric])
    curves: dict[str, dict[int, float]] = defaultdict(dict)
    for (key, n), values in sums.items():
        curves[key][n] = sum(values) / len(values)
    return dict(curves)


class SweepTracker:
    def __init__(self, uri: str, sweep_name: str, artifact_root: Path) -> None:
        import mlflow
        from mlflow import MlflowClient

        for name in ("mlflow", "alembic"):  # store set-up chatter is not the user's business
            logging.getLogger(name).setLevel(logging.WARNING)
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient(uri)
        self.sweep_name = sweep_name
        experiment = self.client.get_experiment_by_name(sweep_name)
        # A SQLite store would put artifacts under the current directory; keep them with results.
        self.experiment_id = (
            experiment.experiment_id
            if experiment
            else self.client.create_experiment(
                sweep_name,
                artifact_location=artifact_root.resolve().as_uri()
                if uri.startswith("sqlite")
                else None,
            )
        )

    def _find(self, filter_string: str) -> Any | None:
        runs = self.client.search_runs([self.experiment_id], filter_string, max_results=1)
        return runs[0] if runs else None

    def parent_run_id(self, params: dict[str, str]) -> str:
        run = self._find(f"tags.`{ROLE_TAG}` = 'sweep'")
        if run is not None:
            return run.info.run_id
        tags = {ROLE_TAG: "sweep", SWEEP_TAG: self.sweep_name, "mlflow.runName": self.sweep_name}
        run_id: str = self.client.create_run(self.experiment_id, tags=tags).info.run_id
        self._log_params(run_id, params)
        return run_id

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])

    def record_trial(self, parent_id: str, record: TrialRecord) -> bool:
        """Create the trial's child run unless it exists; True when one was created."""
        from mlflow.entities import Metric

        if self._find(f"tags.`{TRIAL_TAG}` = '{record.trial_id}'") is not None:
            return False
        tags = {
            "mlflow.parentRunId": parent_id,
            TRIAL_TAG: record.trial_id,
            ROLE_TAG: "trial",
            SWEEP_TAG: self.sweep_name,
            "mlflow.runName": record.folder,
        }
        run_id = self.client.create_run(self.experiment_id, tags=tags).info.run_id
        base = {"arm": record.arm, "n_examples": str(record.n_examples), "seed": str(record.seed)}
        self._log_params(run_id, base | record.params)
        metrics = [Metric(k, float(v), 0, 0) for k, v in record.metrics.items() if v is not None]
        metrics += [Metric("train_loss", loss, 0, step) for step, loss in record.loss_curve]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i : i + 1000])
        self.client.set_terminated(run_id, "FINISHED")
        return True

    def log_curves(self, parent_id: str, records: list[TrialRecord]) -> int:
        """Add the curve points the parent lacks; returns how many were added."""
        from mlflow.entities import Metric

        new = []
        for key, points in curve_points(records).items():
            logged = {m.step for m in self.client.get_metric_history(parent_id, key)}
            new += [
                Metric(key, value, 0, n) for n, value in sorted(points.items()) if n not in logged
            ]
        if new:
            self.client.log_batch(parent_id, metrics=new)
        return len(new)

    def finish_parent(self, parent_id: str, artifacts: list[Path], failed: bool) -> None:
        for path in artifacts:
            if path.is_file():
                self.client.log_artifact(parent_id, str(path))
        self.client.set_terminated(parent_id, "FAILED" if failed else "FINISHED")
