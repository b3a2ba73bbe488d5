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

from ablate.errors import UserError

SWEEP_TAG, TRIAL_TAG, ROLE_TAG = "ablate.sweep", "ablate.trial_id", "ablate.role"
PLAN_TAG, COMPLETE_TAG = "ablate.plan_id", "ablate.complete"
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


def curve_points(records: list[TrialRecord], n_seeds: int = 1) -> dict[str, dict[int, float]]:
    """metric.arm -> {n_examples: value}, averaged over seeds (one point per size); points
    with fewer than n_seeds values (some seeds not done) are left out."""
    sums: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in records:
        for metric in CURVE_METRICS:
            if r.metrics.get(metric) is not None:
                sums[(f"{metric}.{r.arm}", r.n_examples)].append(r.metrics[metric])
    curves: dict[str, dict[int, float]] = defaultdict(dict)
    for (key, n), values in sums.items():
        if len(values) >= n_seeds:
            curves[key][n] = sum(values) / len(values)
    return dict(curves)


def _quiet_and_bounded() -> None:
    for name in ("mlflow", "alembic"):  # store set-up chatter is not the user's business
        logging.getLogger(name).setLevel(logging.WARNING)
    # MLflow's default HTTP retries take minutes to give up on an unreachable server.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


class SweepTracker:
    """A sweep's experiment. A parent run stands for one plan of the sweep (its trial ids):
    the same plan finds the same parent, a changed plan (another judge, say) gets its own,
    so curves are never a mix of two configurations."""

    def __init__(self, uri: str, sweep_name: str, artifact_root: Path) -> None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        _quiet_and_bounded()
        self.client = MlflowClient(uri)
        self.sweep_name = sweep_name
        try:
            experiment = self.client.get_experiment_by_name(sweep_name)
            # A SQLite store would put artifacts under the cwd; keep them with the results.
            location = artifact_root.resolve().as_uri() if uri.startswith("sqlite") else None
            self.experiment_id: str = (
                experiment.experiment_id
                if experiment
                else self.client.create_experiment(sweep_name, artifact_location=location)
            )
        except (MlflowException, OSError) as exc:
            raise UserError(
                f"MLflow tracking store '{uri}' cannot be used: {str(exc).splitlines()[0]}. "
                "Check MLFLOW_TRACKING_URI / tracking.tracking_uri, or set tracking.enabled=false."
            ) from None

    def _find(self, filter_string: str) -> list[Any]:
        return self.client.search_runs([self.experiment_id], filter_string)

    def parent_run_id(self, plan_id: str, params: dict[str, str]) -> str:
        runs = self._find(f"tags.`{ROLE_TAG}` = 'sweep' AND tags.`{PLAN_TAG}` = '{plan_id}'")
        if runs:
            return runs[0].info.run_id
        tags = {
            ROLE_TAG: "sweep",
            SWEEP_TAG: self.sweep_name,
            PLAN_TAG: plan_id,
            "mlflow.runName": f"{self.sweep_name}-{plan_id[:6]}",
        }
        run_id: str = self.client.create_run(self.experiment_id, tags=tags).info.run_id
        self._log_params(run_id, params)
        return run_id

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])

    def record_trial(self, parent_id: str, record: TrialRecord) -> bool:
        """Create the trial's child run unless a complete one exists; True when created.

        The completion tag is written last: a run left half-written by a crash lacks it and is
        replaced, never mistaken for a finished one."""
        from mlflow.entities import Metric, RunTag

        existing = self._find(
            f"tags.`mlflow.parentRunId` = '{parent_id}' "
            f"AND tags.`{TRIAL_TAG}` = '{record.trial_id}'"
        )
        if any(r.data.tags.get(COMPLETE_TAG) == "true" for r in existing):
            return False
        for run in existing:
            self.client.delete_run(run.info.run_id)
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
        self.client.log_batch(run_id, tags=[RunTag(COMPLETE_TAG, "true")])
        self.client.set_terminated(run_id, "FINISHED")
        return True

    def log_curves(self, parent_id: str, records: list[TrialRecord], n_seeds: int) -> int:
        """Add the curve points the parent lacks; returns how many were added.

        A point is logged only when every seed of its (arm, size) is done, so a partial mean
        never lands in the history (a resumed sweep adds the point once it is whole)."""
        from mlflow.entities import Metric

        new = []
        for key, points in curve_points(records, n_seeds).items():
            logged = {m.step for m in self.client.get_metric_history(parent_id, key)}
            new += [Metric(key, v, 0, n) for n, v in sorted(points.items()) if n not in logged]
        if new:
            self.client.log_batch(parent_id, metrics=new)
        return len(new)

    def finish_parent(self, parent_id: str, artifacts: list[Path], failed: bool) -> None:
        for path in artifacts:
            if path.is_file():
                self.client.log_artifact(parent_id, str(path))
        self.client.set_terminated(parent_id, "FAILED" if failed else "FINISHED")
