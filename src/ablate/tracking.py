"""MLflow, written by the driver only: one experiment per sweep, a parent run per plan of the
sweep, a child run per trial, and a run per arm whose curves MLflow overlays.

Every write is idempotent: runs are found by tag before they are created and metric points are
logged only where their step is missing, so running a sweep again adds no run and no duplicate
point. Runs carry the trials' real times (from the ledger), not the time of the sync.

What the runs hold (step = number of training examples unless said otherwise):

- trial runs (tag ablate.role=trial, children of the parent): params ``arm``, ``n_examples``,
  ``seed`` and the flat config; the trial's metrics at step 0 and ``train_loss`` per step.
- arm runs (ablate.role=arm, children of the parent, named after the arm): the arm's settings
  as params and ``judge_mean``, ``judge_ci_low``, ``judge_ci_high``, ``heldout_loss``,
  ``heldout_ci_low``, ``heldout_ci_high``, ``unscored_rate``. Sibling runs sharing metric names
  is what makes MLflow draw every arm in one chart per metric.
- the parent (ablate.role=sweep): ``judge_mean.<arm>``, ``judge_ci_low.<arm>``,
  ``judge_ci_high.<arm>``, ``heldout_loss.<arm>`` (the same seed-aware points as the arm runs);
  per size ``diff.<arm>_vs_<baseline>`` with ``diff_low.…`` / ``diff_high.…`` (judge points);
  whole-sweep figures at step = trials done when computed, so a resumed sweep adds its newer
  estimate and the latest value is the current one: ``diff_pooled.<arm>_vs_<baseline>`` (+
  ``diff_pooled_low.…`` / ``diff_pooled_high.…``, the mean difference over shared sizes),
  ``slope.<arm>`` (+ ``slope_low.…`` / ``slope_high.…``, judge points per doubling of n) and
  ``heldout_exponent.<arm>`` (+ ``heldout_exponent_low.…`` / ``heldout_exponent_high.…``,
  alpha of loss ~ n^-alpha); verdicts as tags ``verdict.slope.<arm>``,
  ``verdict.heldout_exponent.<arm>``, ``verdict.diff.<arm>_vs_<baseline>`` (pooled) and
  ``verdict.diff.<arm>_vs_<baseline>.n<size>``, always the current ones.

A curve point or per-size difference is logged once every planned seed of its cells is done,
so a partial mean never lands in a history; its interval is the one computed then (seed
variance is pooled over the cells done at that time; the report has the final figures).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate import layout
from ablate.errors import UserError

if TYPE_CHECKING:
    from ablate.analysis.contrasts import Contrast
    from ablate.analysis.search import SearchAnswer
    from ablate.analysis.sweep import Point, SweepAnalysis

SWEEP_TAG, TRIAL_TAG, ROLE_TAG = "ablate.sweep", "ablate.trial_id", "ablate.role"
PLAN_TAG, COMPLETE_TAG, ARM_TAG = "ablate.plan_id", "ablate.complete", "ablate.arm"
PARENT_TAG = "mlflow.parentRunId"
# The experiment's kind, "Machine learning": an MLflow UI that goes by it opens the runs table,
# not the GenAI overview (empty for a sweep). The 3.17 UI goes by its own GenAI / Model
# training switch instead (README: "The curves in MLflow"); the tag is what a store can say.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
PARENT_CURVES = ("judge_mean", "judge_ci_low", "judge_ci_high", "heldout_loss")
ARM_METRICS = (
    "judge_mean",
    "judge_ci_low",
    "judge_ci_high",
    "heldout_loss",
    "heldout_ci_low",
    "heldout_ci_high",
    "unscored_rate",
)
FIT_NAMES = {  # Fit.metric -> name
    "judge_mean": "slope",
    "judge_mean_length_adjusted": "slope_length_adjusted",
    "heldout_loss": "heldout_exponent",
}
MAX_PARAMS_PER_BATCH = 100  # MLflow's limit per log_batch call
MAX_METRICS_PER_BATCH = 1000

Curves = dict[str, dict[int, float]]  # metric key -> {step: value}


@dataclass
class TrialRecord:
    """One done trial as MLflow gets it; times are epoch seconds of its first stage's start
    and last stage's end (None: unknown, MLflow then uses the time of the sync)."""

    trial_id: str
    folder: str
    arm: str
    n_examples: int
    seed: int
    metrics: dict[str, float]
    params: dict[str, str]
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    start_time: float | None = None
    end_time: float | None = None


def trial_span(records: Iterable[TrialRecord]) -> tuple[float | None, float | None]:
    """The earliest start and latest end among the records' known times: the parent's span."""
    records = list(records)
    starts = [r.start_time for r in records if r.start_time is not None]
    ends = [r.end_time for r in records if r.end_time is not None]
    return (min(starts) if starts else None, max(ends) if ends else None)


def tracking_uri(configured: str | None, results_dir: Path) -> str:
    """The sweep's setting, else $MLFLOW_TRACKING_URI, else a SQLite file in the results dir."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    return configured or env or f"sqlite:///{layout.mlflow_db(results_dir).resolve()}"


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """MLflow params: every leaf under its dotted key, as text."""
    from ablate.config.arms import flat

    return {key: str(value) for key, value in flat(values, prefix).items()}


# --- What the analysis becomes in MLflow (pure) ----------------------------------------------


def complete_points(analysis: SweepAnalysis) -> list[Point]:
    """The points every planned seed of which is done: only these are logged (a mean over some
    seeds would later need a second value at the same step)."""
    planned = set(analysis.design.seeds)
    return [p for p in analysis.points if planned <= set(p.seeds)]


def _finite(values: Mapping[str, float | None]) -> dict[str, float]:
    """Non-finite values (an interval that could not be formed) make no chart point."""
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def point_metrics(point: Point) -> dict[str, float]:
    """A point's values under the arm runs' names. Held-out loss is the seed-aware estimate
    when per-prompt losses exist (it equals the mean of the trials' losses), else that mean."""
    judge, held = point.judge, point.heldout
    values: dict[str, float | None] = {
        "judge_mean": judge.estimate if judge else None,
        "judge_ci_low": judge.low if judge else None,
        "judge_ci_high": judge.high if judge else None,
        "heldout_loss": held.estimate if held else point.heldout_mean,
        "heldout_ci_low": held.low if held else None,
        "heldout_ci_high": held.high if held else None,
        "unscored_rate": point.unscored_rate,
    }
    if point.lc_win_rate is not None:  # pairwise sweeps: AlpacaEval's length-controlled one
        lc = point.lc_win_rate
        values |= {"lc_win_rate": lc.estimate, "lc_ci_low": lc.low, "lc_ci_high": lc.high}
    return _finite(values)


def arm_curves(points: Iterable[Point]) -> Curves:
    """One arm run's metrics: name -> {n_examples: value}."""
    curves: Curves = {}
    for p in points:
        for name, value in point_metrics(p).items():
            curves.setdefault(name, {})[p.n_examples] = value
    return curves


def task_curves(analysis: SweepAnalysis) -> Curves:
    """Each task's accuracy per arm, ``task_<name>_accuracy.<arm>`` and its bounds, at
    step = n: the curve 2410.03717 fits."""
    curves: Curves = {}
    for p in analysis.task_points:
        if p.accuracy is not None:
            name = f"task_{p.task}_accuracy"
            values = {name: p.accuracy.estimate, f"{name}_low": p.accuracy.low,
                      f"{name}_high": p.accuracy.high}  # fmt: skip
            _put(curves, p.arm, p.n_examples, values)
    return curves


def branching_curves(analysis: SweepAnalysis) -> Curves:
    """``branching_factor.<arm>`` and its bounds at step = n; the base model's at step 0."""
    curves: Curves = {}
    for p in analysis.branching:
        f = p.factor
        values = {"branching_factor": f.value, "branching_factor_low": f.low,
                  "branching_factor_high": f.high}  # fmt: skip
        _put(curves, p.arm, p.n_examples, values)
    b = analysis.base_branching
    if b is not None:
        values = {"branching_factor": b.value, "branching_factor_low": b.low,
                  "branching_factor_high": b.high}  # fmt: skip
        _put(curves, "base", 0, values)
    return curves


def parent_curves(points: Iterable[Point]) -> Curves:
    """The parent's per-arm curves, ``<metric>.<arm>`` (the names sweeps have always had)."""
    curves: Curves = {}
    for p in points:
        values = point_metrics(p)
        for name in PARENT_CURVES:
            if name in values:
                curves.setdefault(f"{name}.{p.arm}", {})[p.n_examples] = values[name]
    return curves


def trials_done(analysis: SweepAnalysis) -> int:
    """The step of whole-sweep figures: it grows as a resumed sweep finishes trials."""
    return sum(len(p.seeds) for p in analysis.points)


def pair_name(arm: str, baseline: str) -> str:
    return f"{arm}_vs_{baseline}"


def _contrast_values(name: str, contrast: Contrast) -> dict[str, float]:
    return {name: contrast.estimate, f"{name}_low": contrast.low, f"{name}_high": contrast.high}


def _put(curves: Curves, suffix: str, step: int, values: Mapping[str, float | None]) -> None:
    """Add ``<metric>.<suffix>`` at `step` for each finite value."""
    for metric, value in _finite(values).items():
        curves.setdefault(f"{metric}.{suffix}", {})[step] = value


def comparison_curves(analysis: SweepAnalysis) -> Curves:
    """Per-size differences (step = n) where both cells are complete, and the pooled ones at
    step = trials done."""
    complete = {(p.arm, p.n_examples) for p in complete_points(analysis)}
    done = trials_done(analysis)
    curves: Curves = {}
    for c in analysis.comparisons:
        pair = pair_name(c.arm, c.baseline)
        if c.n_examples is None:
            _put(curves, pair, done, _contrast_values("diff_pooled", c.contrast))
        elif {(c.arm, c.n_examples), (c.baseline, c.n_examples)} <= complete:
            _put(curves, pair, c.n_examples, _contrast_values("diff", c.contrast))
    return curves


def fit_curves(analysis: SweepAnalysis) -> Curves:
    """Slopes and held-out exponents with their bounds, at step = trials done."""
    done = trials_done(analysis)
    curves: Curves = {}
    for f in analysis.fits:
        name = FIT_NAMES.get(f.metric) or (
            f"{f.metric}_error_exponent" if f.metric.startswith("task_") else None
        )
        if name is not None:
            values = {name: f.slope, f"{name}_low": f.low, f"{name}_high": f.high}
            _put(curves, f.arm, done, values)
    return curves


def _add(curves: Curves, step: int, name: str, e: Any) -> None:
    """An estimate (value, low, high: ablate.analysis.search_fits.Estimate) at `step`."""
    values = {name: e.value, f"{name}_low": e.low, f"{name}_high": e.high}
    for key, value in values.items():
        if isinstance(value, int | float) and math.isfinite(value):
            curves.setdefault(key, {})[step] = float(value)


def search_curves(answer: SearchAnswer) -> tuple[Curves, dict[str, str]]:
    """A search's figures on its parent run: each configuration's objective and the best so
    far at step = the order it was proposed in; the best, the importances, the predicted best
    mixture and the confirmation at step = trials done (they move as a resumed search goes
    on)."""
    curves: Curves = {}
    best: float | None = None
    better = max if answer.direction == "maximize" else min
    for c in sorted(answer.configurations, key=lambda c: c.order):
        value = c.objective.value
        best = value if best is None or not math.isfinite(best) else better(best, value)
        curves.setdefault("search.objective", {})[c.order] = value
        curves.setdefault("search.best_so_far", {})[c.order] = best
    # Trials done, confirmations included: it grows whenever the answer can change.
    done = sum(len(c.seeds) for c in (*answer.configurations, *answer.confirmed))
    tags = {}
    if answer.best is not None:
        _add(curves, done, "search.best", answer.best.objective)
        tags["search.best_arm"] = answer.best.arm
    for i in answer.importances:
        _add(curves, done, f"search.importance.{i.name}", i.share)
    for pool, e in (answer.mixture.best.items() if answer.mixture is not None else []):
        _add(curves, done, f"search.mixture.best.{pool}", e)
    for comparison in answer.comparisons:
        _add(curves, done, f"search.confirm.diff.{comparison.other}", comparison.difference)
        tags[f"search.confirm.verdict.{comparison.other}"] = comparison.verdict
    return curves, tags


def verdict_tags(analysis: SweepAnalysis) -> dict[str, str]:
    """The verdicts in words: slopes and exponents by their kind ("plateau", "falls with n"),
    comparisons by their label ("lima beats dolly", "no detectable difference")."""
    tags = {
        f"verdict.{FIT_NAMES[f.metric]}.{f.arm}": f.verdict
        for f in analysis.fits
        if f.metric in FIT_NAMES
    }
    for c in analysis.comparisons:
        size = "" if c.n_examples is None else f".n{c.n_examples}"
        tags[f"verdict.diff.{pair_name(c.arm, c.baseline)}{size}"] = c.verdict.label
    return tags


def _quiet_and_bounded() -> None:
    # MLflow's default HTTP retries take minutes to give up on an unreachable server.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow  # noqa: F401  (its import configures its loggers: quiet them afterwards)

    for name in ("mlflow", "alembic"):  # store set-up chatter is not the user's business
        logging.getLogger(name).setLevel(logging.WARNING)
    # It logs a database error with its traceback before raising it; we raise it as a UserError.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


SUPPORTED_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
SQLITE_HEADER = b"SQLite format 3\x00"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def files_a_new_store_makes(uri: str, artifact_root: Path) -> list[Path]:
    """What opening the store at `uri` would create here that is not there yet: a new SQLite
    file (with SQLite's side files and store_creation_lock's file) and the artifact folder.
    Nothing for a server's store."""
    db = _sqlite_path(uri)
    sqlite_files = ("", "-journal", "-wal", "-shm", ".lock")
    made = [] if db is None else [db.with_name(db.name + s) for s in sqlite_files]
    return [p for p in [*made, artifact_root] if not p.exists()]


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


def _reason(exc: BaseException) -> str:
    """The first line of the innermost cause: MLflow wraps the database's own words ("attempt
    to write a readonly database") in advice about autoflush."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _store_error(uri: str, exc: BaseException, while_recording: bool = False) -> UserError:
    rerun = (
        " The trials' results are kept in the sweep folder: run the sweep again once the store "
        "works to record them."
        if while_recording
        else ""
    )
    return UserError(
        f"MLflow tracking store '{uri}' cannot be used: {_reason(exc)}. "
        "Check MLFLOW_TRACKING_URI / tracking.tracking_uri and that the store is writable, "
        f"or set tracking.enabled=false.{rerun}"
    )


def _is_store_failure(exc: BaseException) -> bool:
    """Whether `exc` says the store is unusable (gone, locked, read-only, unreachable) rather
    than that we sent something wrong: a rejected value is a bug and keeps its traceback."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, MlflowException):
        return exc.error_code != "INVALID_PARAMETER_VALUE"
    return isinstance(exc, SQLAlchemyError | OSError)  # OSError covers requests' errors


@contextmanager
def store_creation_lock(uri: str) -> Iterator[None]:
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


def _create_experiment(client: Any, uri: str, sweep_name: str, artifact_root: Path) -> Any:
    from mlflow.exceptions import MlflowException

    # A SQLite store would put artifacts under the cwd; keep them with the results.
    location = artifact_root.resolve().as_uri() if uri.startswith("sqlite") else None
    try:
        experiment_id = client.create_experiment(
            sweep_name, artifact_location=location, tags={KIND_TAG: KIND}
        )
    except MlflowException:  # created by another sweep between our lookup and create
        experiment = client.get_experiment_by_name(sweep_name)
        if experiment is None:
            raise
        return experiment
    return client.get_experiment(experiment_id)


def _open_experiment(uri: str, sweep_name: str, artifact_root: Path) -> tuple[Any, str]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(sweep_name)
    if experiment is None:
        experiment = _create_experiment(client, uri, sweep_name, artifact_root)
    if KIND_TAG not in experiment.tags:  # made by an older ablate: set, never overridden
        client.set_experiment_tag(experiment.experiment_id, KIND_TAG, KIND)
    return client, str(experiment.experiment_id)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _now_ms() -> int:
    return int(time.time() * 1000)


class SweepTracker:
    """A sweep's experiment. A parent run stands for one plan of the sweep (its trial ids):
    the same plan finds the same parent, a changed plan (another judge, say) gets its own,
    so curves are never a mix of two configurations.

    Every public method that touches the store turns a store that became unusable on the way
    (file removed, disk full, server down) into a UserError naming it and what to do."""

    def __init__(self, uri: str, sweep_name: str, artifact_root: Path) -> None:
        problem = store_problem(uri)
        if problem is not None:
            raise UserError(f"MLflow tracking store '{uri}': {problem}.")
        _quiet_and_bounded()
        self.uri = uri
        self.sweep_name = sweep_name
        try:
            with store_creation_lock(uri):
                self.client, self.experiment_id = _open_experiment(uri, sweep_name, artifact_root)
        except UserError:
            raise
        except Exception as exc:  # MLflow, SQLAlchemy and OS errors: all say the store is unusable
            raise _store_error(uri, exc) from None

    @contextmanager
    def _store(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if _is_store_failure(exc):
                raise _store_error(self.uri, exc, while_recording=True) from exc
            raise

    def _find(self, filter_string: str) -> list[Any]:
        """Every active run matching the filter (all pages: a big sweep has many trials)."""
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string, page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                return runs

    def _reuse_or_clear(self, filter_string: str) -> str | None:
        """The id of a complete run matching the filter; incomplete ones (a crash between
        creating a run and tagging it complete) are deleted so they get made again."""
        runs = self._find(filter_string)
        complete = [r for r in runs if r.data.tags.get(COMPLETE_TAG) == "true"]
        if complete:
            return str(complete[0].info.run_id)
        for run in runs:
            self.client.delete_run(run.info.run_id)
        return None

    def _create(self, tags: dict[str, str], params: dict[str, str], start_ms: int | None) -> str:
        """A run with its tags and params, tagged complete last."""
        run = self.client.create_run(self.experiment_id, start_time=start_ms, tags=tags)
        run_id = str(run.info.run_id)
        self._log_params(run_id, params)
        self.client.set_tag(run_id, COMPLETE_TAG, "true")
        return run_id

    def parent_run_id(
        self, plan_id: str, params: dict[str, str], start_time: float | None = None
    ) -> str:
        """The plan's parent run, created (params, then the completion tag, last) if missing,
        starting at `start_time` (epoch seconds: the earliest trial start, see trial_span).

        A parent left without its completion tag by a crash is deleted and made again: it has
        no children yet (they are added only under a complete parent)."""
        with self._store():
            found = self._reuse_or_clear(
                f"tags.`{ROLE_TAG}` = 'sweep' AND tags.`{PLAN_TAG}` = '{plan_id}'"
            )
            if found is not None:
                return found
            tags = {
                ROLE_TAG: "sweep",
                SWEEP_TAG: self.sweep_name,
                PLAN_TAG: plan_id,
                "mlflow.runName": f"{self.sweep_name}-{plan_id[:6]}",
            }
            return self._create(tags, params, _ms(start_time))

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])

    def record_trial(self, parent_id: str, record: TrialRecord) -> bool:
        """Create the trial's child run unless a complete one exists; True when created. The run
        spans the trial's real start and end.

        The completion tag is written last: a run left half-written by a crash lacks it and is
        replaced, never mistaken for a finished one."""
        with self._store():
            return self._record_trial(parent_id, record)

    def _record_trial(self, parent_id: str, record: TrialRecord) -> bool:
        from mlflow.entities import Metric, RunTag

        found = self._reuse_or_clear(
            f"tags.`{PARENT_TAG}` = '{parent_id}' AND tags.`{TRIAL_TAG}` = '{record.trial_id}'"
        )
        if found is not None:
            return False
        tags = {
            PARENT_TAG: parent_id,
            TRIAL_TAG: record.trial_id,
            ROLE_TAG: "trial",
            SWEEP_TAG: self.sweep_name,
            "mlflow.runName": record.folder,
        }
        run = self.client.create_run(
            self.experiment_id, start_time=_ms(record.start_time), tags=tags
        )
        run_id = run.info.run_id
        base = {"arm": record.arm, "n_examples": str(record.n_examples), "seed": str(record.seed)}
        self._log_params(run_id, base | record.params)
        now = _now_ms()
        metrics = [Metric(k, float(v), now, 0) for k, v in record.metrics.items() if v is not None]
        metrics += [Metric("train_loss", loss, now, step) for step, loss in record.loss_curve]
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])
        self.client.log_batch(run_id, tags=[RunTag(COMPLETE_TAG, "true")])
        self.client.set_terminated(run_id, "FINISHED", end_time=_ms(record.end_time))
        return True

    def log_analysis(
        self, parent_id: str, analysis: SweepAnalysis, arm_params: dict[str, dict[str, str]]
    ) -> int:
        """Log the sweep's analysis (module docstring: names and steps); returns how many metric
        points were added. Call it after record_trial: an arm run spans its trials' runs.

        One run per arm, so that MLflow's chart of ``judge_mean`` overlays the arms (charts are
        per metric name, and the parent's ``judge_mean.<arm>`` are one name per arm); the
        parent keeps its curves, differences, slopes and verdict tags for the runs table."""
        with self._store():
            parent = parent_curves(complete_points(analysis))
            added = self._log_missing(
                parent_id,
                parent
                | comparison_curves(analysis)
                | fit_curves(analysis)
                | task_curves(analysis)
                | branching_curves(analysis),
            )
            self._set_tags(parent_id, verdict_tags(analysis))
            for arm in analysis.design.arms:
                if any(p.arm == arm for p in analysis.points):
                    added += self._log_arm(parent_id, arm, analysis, arm_params.get(arm, {}))
            return added

    def log_search(self, parent_id: str, answer: SearchAnswer) -> int:
        """A search's answer on the parent run (search_curves); returns the points added."""
        curves, tags = search_curves(answer)
        with self._store():
            added = self._log_missing(parent_id, curves)
            self._set_tags(parent_id, tags)
            return added

    def _log_arm(
        self, parent_id: str, arm: str, analysis: SweepAnalysis, params: dict[str, str]
    ) -> int:
        start, end = self._trials_span(parent_id, arm)
        run_id = self._arm_run(parent_id, arm, params, start)
        points = [p for p in complete_points(analysis) if p.arm == arm]
        added = self._log_missing(run_id, arm_curves(points))
        failed = any(a == arm for a, _, _ in analysis.missing)
        self.client.set_terminated(run_id, "FAILED" if failed else "FINISHED", end_time=end)
        return added

    def _arm_run(self, parent_id: str, arm: str, params: dict[str, str], start: int | None) -> str:
        found = self._reuse_or_clear(
            f"tags.`{PARENT_TAG}` = '{parent_id}' AND tags.`{ROLE_TAG}` = 'arm' "
            f"AND tags.`{ARM_TAG}` = '{arm}'"
        )
        if found is not None:
            return found
        tags = {
            PARENT_TAG: parent_id,
            ROLE_TAG: "arm",
            ARM_TAG: arm,
            SWEEP_TAG: self.sweep_name,
            "mlflow.runName": arm,
        }
        return self._create(tags, {"arm": arm} | params, start)

    def _trials_span(self, parent_id: str, arm: str | None = None) -> tuple[int | None, int | None]:
        """Earliest start and latest end (ms) of the parent's trial runs (of one arm)."""
        query = f"tags.`{PARENT_TAG}` = '{parent_id}' AND tags.`{ROLE_TAG}` = 'trial'"
        runs = self._find(query + (f" AND params.arm = '{arm}'" if arm is not None else ""))
        starts = [r.info.start_time for r in runs if r.info.start_time]
        ends = [r.info.end_time for r in runs if r.info.end_time]
        return (min(starts) if starts else None, max(ends) if ends else None)

    def _log_missing(self, run_id: str, curves: Curves) -> int:
        """Log the points whose step the metric's history lacks; how many were logged."""
        from mlflow.entities import Metric

        now, new = _now_ms(), []
        for key, points in sorted(curves.items()):
            logged = {m.step for m in self.client.get_metric_history(run_id, key)}
            new += [Metric(key, v, now, n) for n, v in sorted(points.items()) if n not in logged]
        for i in range(0, len(new), MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=new[i : i + MAX_METRICS_PER_BATCH])
        return len(new)

    def _set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, v) for k, v in sorted(tags.items())]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, tags=items[i : i + MAX_PARAMS_PER_BATCH])

    def finish_parent(
        self, parent_id: str, artifacts: list[Path], failed: bool, end_time: float | None = None
    ) -> None:
        """Attach the files and end the parent at `end_time` (epoch seconds), by default at the
        latest end of its trial runs, so its duration is the sweep's, not the sync's."""
        with self._store():
            for path in artifacts:
                if path.is_file():
                    self.client.log_artifact(parent_id, str(path))
            end = _ms(end_time) if end_time is not None else self._trials_span(parent_id)[1]
            self.client.set_terminated(parent_id, "FAILED" if failed else "FINISHED", end)

    def log_report(self, parent_id: str, folder: Path) -> None:
        """The report folder's files (report.md, CSVs, plots) as the parent's artifacts under
        ``report/``; a file of the same name replaces the older copy."""
        if not folder.is_dir():
            raise FileNotFoundError(f"no report folder at {folder}")
        with self._store():
            self.client.log_artifacts(parent_id, str(folder), "report")


# MLflow 3.17's UI opens an experiment on its GenAI overview whatever the experiment's kind tag
# says, until the user picks "Model training" once; this URL parameter picks it for them.
RUNS_VIEW = "workflowType=machine_learning"


def experiment_urls(uri: str, base_url: str) -> list[tuple[str, str, str]]:
    """(experiment name, URL of its runs, URL of its arms' curves in chart view) for each
    experiment in the store; both open on the runs, not MLflow's GenAI overview."""
    _quiet_and_bounded()
    from urllib.parse import quote_plus

    from mlflow import MlflowClient

    try:
        experiments = MlflowClient(uri).search_experiments()
    except Exception:  # the links are a convenience: the UI itself still works without them
        return []
    base = base_url.rstrip("/")
    arms = quote_plus(f'tags.{ROLE_TAG} = "arm"')
    return [
        (
            e.name,
            f"{base}/#/experiments/{e.experiment_id}?{RUNS_VIEW}",
            f"{base}/#/experiments/{e.experiment_id}/runs?{RUNS_VIEW}"
            f"&searchFilter={arms}&compareRunsMode=CHART",
        )
        for e in experiments
        if e.name != "Default"
    ]
