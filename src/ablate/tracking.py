"""MLflow, written by the driver only: one experiment per sweep, a parent run per sweep, a
child run per trial, and the parent's scaling curves (step = number of training examples).

Every write is idempotent: runs are found by tag before they are created and curve points are
logged only where missing, so running a sweep again adds no run and no duplicate point.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
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
    # MLflow's default HTTP retries take minutes to give up on an unreachable server.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow  # noqa: F401  (its import configures its loggers: quiet them afterwards)

    for name in ("mlflow", "alembic"):  # store set-up chatter is not the user's business
        logging.getLogger(name).setLevel(logging.WARNING)


SUPPORTED_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
SQLITE_HEADER = b"SQLite format 3\x00"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def store_problem(uri: str) -> str | None:
    """Why the tracking store cannot be used, found without writing anything (None if fine).

    A server's reachability is learnt when the tracker opens it; here: the scheme, and for the
    default SQLite file, that it is a database (or absent) in a folder that can be written."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0] if ":" in uri else ""
    if scheme not in SUPPORTED_SCHEMES:
        return (
            f"'{scheme or uri}' is not a tracking store scheme MLflow can write to "
            f"({', '.join(SUPPORTED_SCHEMES)})"
        )
    path = _sqlite_path(uri)
    if path is None:
        return None
    if path.is_dir():
        return f"{path} is a folder, not an SQLite file"
    if path.is_file():
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            return f"{path} is not an SQLite database (damaged?); move it away to start a new store"
        return None if os.access(path, os.W_OK) else f"{path} is not writable"
    folder = _nearest_existing(path.parent)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create {path}: {folder} is not a writable folder"
    return None


def _store_error(uri: str, exc: BaseException) -> UserError:
    return UserError(
        f"MLflow tracking store '{uri}' cannot be used: {str(exc).splitlines()[0][:300]}. "
        "Check MLFLOW_TRACKING_URI / tracking.tracking_uri and that the store is writable, "
        "or set tracking.enabled=false."
    )


@contextmanager
def _store_creation_lock(uri: str) -> Iterator[None]:
    """Serialise first use of an SQLite store: MLflow creates its schema on first open, and two
    sweeps starting at once on a fresh results folder race there ("table already exists")."""
    path = _sqlite_path(uri)
    if path is None:
        yield
        return
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock", timeout=300):
        yield


def _open_experiment(uri: str, sweep_name: str, artifact_root: Path) -> tuple[Any, str]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(sweep_name)
    if experiment is not None:
        return client, str(experiment.experiment_id)
    # A SQLite store would put artifacts under the cwd; keep them with the results.
    location = artifact_root.resolve().as_uri() if uri.startswith("sqlite") else None
    try:
        return client, str(client.create_experiment(sweep_name, artifact_location=location))
    except MlflowException:  # created by another sweep between our lookup and create
        experiment = client.get_experiment_by_name(sweep_name)
        if experiment is None:
            raise
        return client, str(experiment.experiment_id)


class SweepTracker:
    """A sweep's experiment. A parent run stands for one plan of the sweep (its trial ids):
    the same plan finds the same parent, a changed plan (another judge, say) gets its own,
    so curves are never a mix of two configurations."""

    def __init__(self, uri: str, sweep_name: str, artifact_root: Path) -> None:
        problem = store_problem(uri)
        if problem is not None:
            raise UserError(f"MLflow tracking store '{uri}': {problem}.")
        _quiet_and_bounded()
        self.sweep_name = sweep_name
        try:
            with _store_creation_lock(uri):
                self.client, self.experiment_id = _open_experiment(uri, sweep_name, artifact_root)
        except UserError:
            raise
        except Exception as exc:  # MLflow, SQLAlchemy and OS errors: all say the store is unusable
            raise _store_error(uri, exc) from None

    def _find(self, filter_string: str) -> list[Any]:
        return self.client.search_runs([self.experiment_id], filter_string)

    def parent_run_id(self, plan_id: str, params: dict[str, str]) -> str:
        """The plan's parent run, created (params, then the completion tag, last) if missing.

        A parent left without its completion tag by a crash is deleted and made again: it has
        no children yet (they are added only under a complete parent)."""
        runs = self._find(f"tags.`{ROLE_TAG}` = 'sweep' AND tags.`{PLAN_TAG}` = '{plan_id}'")
        complete = [r for r in runs if r.data.tags.get(COMPLETE_TAG) == "true"]
        if complete:
            return str(complete[0].info.run_id)
        for run in runs:
            self.client.delete_run(run.info.run_id)
        tags = {
            ROLE_TAG: "sweep",
            SWEEP_TAG: self.sweep_name,
            PLAN_TAG: plan_id,
            "mlflow.runName": f"{self.sweep_name}-{plan_id[:6]}",
        }
        run_id: str = self.client.create_run(self.experiment_id, tags=tags).info.run_id
        self._log_params(run_id, params)
        self.client.set_tag(run_id, COMPLETE_TAG, "true")
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
