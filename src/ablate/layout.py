"""Every path under a results folder, in one place: the layout users and scripts rely on
(README "Results"). Pure path arithmetic, so every layer may use it.

    results/                     mlflow.db, mlartifacts/, judge_cache.sqlite, pools/<key>/
      <sweep>/                   config.yaml, plan.json, summary*.csv, report*/, _ray/, .lock
        search/study.db          a search's Optuna study (rebuilt from the ledger each command)
        search/state.json        a search whose space ran out, and at which budget
        base/<key>/              the base model's samples and branching factor (measure_base)
        trials/<arm>-n<size>-s<seed>/   trial.json, config.yaml, <stage>/, .lock
"""

from __future__ import annotations

from pathlib import Path

CONFIG = "config.yaml"  # the resolved config: in the sweep folder and in each trial folder
PLAN = "plan.json"
SUMMARY = "summary.csv"
REPORT = "report"
TRIALS = "trials"
TRIAL_FILE = "trial.json"
TRAIN_WORK = ".train-work"  # checkpoints inside training (train_work_dir)
LOCK = ".lock"  # the sweep's lock (held by the driver) and each trial's (held by its worker)


def pools_dir(results: Path) -> Path:
    return results / "pools"


def mlflow_db(results: Path) -> Path:
    return results / "mlflow.db"


def artifacts_dir(results: Path) -> Path:
    return results / "mlartifacts"


def judge_cache(results: Path) -> Path:
    """One reply cache per results folder, shared by its sweeps."""
    return results / "judge_cache.sqlite"


def trial_judge_cache(trial: Path, configured: str | None) -> Path:
    """The reply cache a trial's judging uses: judge.cache_path when set, else its results
    folder's one (results/<sweep>/trials/<trial> -> results/judge_cache.sqlite)."""
    return Path(configured) if configured else judge_cache(results_of_trial(trial))


def ray_dir(sweep: Path) -> Path:
    return sweep / "_ray"


def study_db(sweep: Path) -> Path:
    return sweep / "search" / "study.db"


def base_dir(sweep: Path) -> Path:
    """The base model's measurements (evaluation.measure_base), one folder per settings key."""
    return sweep / "base"


def search_state(sweep: Path) -> Path:
    """What a search knows beyond its trials: that its space ran out, and at which budget."""
    return sweep / "search" / "state.json"


def trial_dir(sweep: Path, folder: str) -> Path:
    return sweep / TRIALS / folder


def train_work_dir(trial: Path, train_key: str) -> Path:
    """Where a trial's training keeps its checkpoints while it runs, one folder per train key
    (a changed config never resumes another's checkpoint); removed once the stage is done."""
    return trial / TRAIN_WORK / train_key[:16]


def results_of_trial(trial: Path) -> Path:
    """The results folder a trial folder sits in (results/<sweep>/trials/<trial>)."""
    return trial.parents[2]


def judged_name(base: str, judge: str | None) -> str:
    """summary.csv / report for the sweep's own judge; summary-<judge>.csv / report-<judge>
    for a judge `ablate judge` added."""
    if judge is None:
        return base
    stem, dot, suffix = base.partition(".")
    return f"{stem}-{judge}{dot}{suffix}"
