"""The public functions behind the commands: validate, plan, run, resume, status, ui.

The driver: it plans, skips what the ledger says is done, hands the rest to the runner, then
writes summary.csv and syncs MLflow. Only this module talks to both runner and tracking.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate.config.load import config_to_dict, load_config
from ablate.config.schema import Config
from ablate.data.checks import check_pools, check_prepared_sizes, require_data, used_pools
from ablate.data.pools import fingerprints, prepare_pool
from ablate.errors import UserError
from ablate.ledger import (
    atomic_write_text,
    read_trials,
    remove_stale_temporaries,
    trial_root,
    write_plan_file,
    write_trial_file,
)
from ablate.plan import Trial, duplicate_arms, plan_id, plan_trials
from ablate.summary import trial_records, trial_status, write_summary

if TYPE_CHECKING:
    from ablate.tracking import SweepTracker

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
    """The trials, after checking that the data can fill them (so `validate` catches it)."""
    check_pools(config)
    from ablate.judge.backends import judge_fingerprint

    pool_fps, eval_fp = fingerprints(config.pools, config.evaluation.prompts)
    trials = plan_trials(config, pool_fps, eval_fp, judge_fingerprint(config.judge))
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
    """Before any trial: every model loads, and an HTTP judge's key and endpoint are there."""
    from ablate.models.load import check_available

    check_available(config.model.name_or_path, config.model.revision, "model.name_or_path")
    check_judge(config)


def check_judge(config: Config) -> None:
    from ablate.models.load import check_available

    if config.judge.backend == "hf":
        check_available(config.judge.model, None, "judge.model")
    else:
        from ablate.judge.preflight import check_endpoint

        check_endpoint(config.judge)


def resolved_config_text(config: Config) -> str:
    from omegaconf import OmegaConf

    resolved = config_to_dict(config)
    resolved["experiment"] = None  # already merged in: resume must not re-read it
    return OmegaConf.to_yaml(resolved)


def _write_plan(config: Config, trials: list[Trial], sweep_dir: Path) -> None:
    text = resolved_config_text(config)
    atomic_write_text(sweep_dir / RESOLVED_CONFIG, text)
    for trial in trials:
        write_trial_file(sweep_dir, trial)
        atomic_write_text(trial_root(sweep_dir, trial) / RESOLVED_CONFIG, text)
    write_plan_file(sweep_dir, plan_id(trials), trials)


def _open_tracker(config: Config, results_dir: Path) -> tuple[SweepTracker | None, str | None]:
    """Before any trial runs, so a wrong tracking URI costs seconds, not a sweep."""
    if not config.tracking.enabled:
        return None, None
    from ablate.tracking import SweepTracker, tracking_uri

    uri = tracking_uri(config.tracking.tracking_uri, results_dir)
    return SweepTracker(uri, config.name, results_dir / "mlartifacts"), uri


def _track(
    tracker: SweepTracker, config: Config, trials: list[Trial], sweep_dir: Path, failed: bool
) -> int:
    from ablate.tracking import flatten

    params = flatten(config_to_dict(config))
    parent = tracker.parent_run_id(plan_id(trials), params)
    records = trial_records(sweep_dir, trials, params)
    created = sum(tracker.record_trial(parent, r) for r in records)
    tracker.log_curves(parent, records, len(config.sweep.seeds))
    tracker.finish_parent(parent, [sweep_dir / RESOLVED_CONFIG, sweep_dir / "summary.csv"], failed)
    return int(created)


def prepare_pools(config: Config, results_dir: Path) -> dict[str, Path]:
    """Materialise every pool an arm uses (once: cached by key) and check it is big enough."""
    pools_dir = (results_dir / "pools").resolve()
    folders = {
        name: prepare_pool(name, config.pools[name], pools_dir, config.data.embedding_model)
        for name in used_pools(config)
    }
    check_prepared_sizes(config, folders)
    return folders


def _run_pending(
    config: Config,
    trials: list[Trial],
    sweep_dir: Path,
    results_dir: Path,
    address: str | None,
    pool_dirs: dict[str, Path] | None = None,
) -> int:
    pending = [t for t in trials if trial_status(sweep_dir, t) != "done"]
    if pending:
        from ablate.progress import SweepProgress
        from ablate.runner import run_trials

        pool_dirs = pool_dirs or prepare_pools(config, results_dir)
        with SweepProgress([t.folder for t in pending], len(trials) - len(pending)) as progress:
            run_trials(config, pending, sweep_dir, pool_dirs, address, progress.event)
    return len(pending)


def _locked(sweep_dir: Path) -> Any:
    from filelock import FileLock

    sweep_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(sweep_dir / ".lock", timeout=0)


def _busy(sweep_dir: Path) -> UserError:
    return UserError(
        f"{sweep_dir}: another `ablate run`, `resume` or `judge` is using this sweep folder; "
        "wait for it to finish (or, if none is running, delete its .lock file)."
    )


def run_config(config: Config, results_dir: Path, address: str | None) -> SweepOutcome:
    from filelock import Timeout

    if config.judge.mode == "pairwise" and config.judge.reference_arm:
        raise UserError(
            "judge.reference_arm: comparing with another arm needs that arm's generations first; "
            "run the sweep with a likert or absolute judge, then "
            f"`ablate judge {results_dir / config.name} judge.mode=pairwise "
            f"judge.reference_arm={config.judge.reference_arm}`."
        )
    trials = plan_sweep(config)
    sweep_dir = (results_dir / config.name).resolve()
    if any(trial_status(sweep_dir, t) != "done" for t in trials):
        require_data(config)  # only work still to do needs the data, the models, the judge
        check_models(config)
    tracker, uri = _open_tracker(config, results_dir)
    try:
        with _locked(sweep_dir):
            remove_stale_temporaries(sweep_dir)
            _write_plan(config, trials, sweep_dir)
            ran = _run_pending(config, trials, sweep_dir, results_dir, address)
            failed = [t.folder for t in trials if trial_status(sweep_dir, t) != "done"]
            summary = write_summary(sweep_dir, trials)
            created = _track(tracker, config, trials, sweep_dir, bool(failed)) if tracker else 0
    except Timeout:
        raise _busy(sweep_dir) from None
    return SweepOutcome(sweep_dir, summary, len(trials), ran, failed, uri, created)


def _without_generations(sweep_dir: Path, trials: list[Trial]) -> list[str]:
    from ablate.ledger import TrialLedger

    return [
        t.folder
        for t in trials
        if not TrialLedger(trial_root(sweep_dir, t)).is_done("generate", t.stage_keys["generate"])
    ]


def _refuse_overwrite(sweep_dir: Path, trials: list[Trial]) -> None:
    """A judge name already holding results from other judge settings is not reused."""
    from ablate.ledger import TrialLedger

    for t in trials:
        marker = TrialLedger(trial_root(sweep_dir, t), t.judge_name).done_marker("judge")
        if marker is not None and marker.get("key") != t.stage_keys["judge"]:
            raise UserError(
                f"judge.name: '{t.judge_name}' already holds judgments made with other settings "
                f"in {t.folder}; choose another judge.name (or leave it unset: the default "
                "name carries a hash of the settings)."
            )


def rejudge_sweep(sweep_dir: Path, overrides: list[str], address: str | None) -> SweepOutcome:
    """Judge a sweep's generations again with other judge.* settings, never regenerating.

    The results go to judge/<judge name>/ and score/<judge name>/ in each trial and to
    summary-<judge name>.csv; the sweep's own config, plan and summary stay as they are."""
    from filelock import Timeout

    from ablate.judge.backends import judge_fingerprint
    from ablate.plan import rejudged_trials

    not_judge = [o for o in overrides if not o.startswith("judge.")]
    if not_judge:
        raise UserError(
            f"ablate judge takes judge.* settings only, not {not_judge}; change "
            "other settings with `ablate run`."
        )
    sweep_dir = sweep_dir.resolve()
    config = load_config(_saved_config(sweep_dir), overrides)
    trials = rejudged_trials(config, read_trials(sweep_dir), judge_fingerprint(config.judge))
    missing = _without_generations(sweep_dir, trials)
    if missing:
        raise UserError(
            f"{sweep_dir}: no generations yet for {', '.join(missing)}; finish the "
            f"sweep first (`ablate resume {sweep_dir}`)."
        )
    if config.judge.name:
        _refuse_overwrite(sweep_dir, trials)
    results_dir = sweep_dir.parent
    tracker, uri = _open_tracker(config, results_dir)
    no_pools = {t.pool: Path() for t in trials}  # selection is done: pools are not read again
    try:
        with _locked(sweep_dir):
            if any(trial_status(sweep_dir, t) != "done" for t in trials):
                check_judge(config)
            ran = _run_pending(config, trials, sweep_dir, results_dir, address, no_pools)
            failed = [t.folder for t in trials if trial_status(sweep_dir, t) != "done"]
            summary = write_summary(sweep_dir, trials, f"summary-{trials[0].judge_name}.csv")
            created = _track(tracker, config, trials, sweep_dir, bool(failed)) if tracker else 0
    except Timeout:
        raise _busy(sweep_dir) from None
    return SweepOutcome(sweep_dir, summary, len(trials), ran, failed, uri, created)


def run_sweep(
    sweep_path: str | Path, overrides: list[str], results_dir: Path, address: str | None
) -> SweepOutcome:
    config = load_config(sweep_path, overrides)
    return run_config(config, results_dir, address)


def _saved_config(sweep_dir: Path) -> Path:
    config_path = sweep_dir / RESOLVED_CONFIG
    if not config_path.is_file():
        raise UserError(
            f"{sweep_dir}: no {RESOLVED_CONFIG} here; is this a folder that "
            "`ablate run` wrote (results/<sweep name>)?"
        )
    return config_path


def resume_sweep(sweep_dir: Path, overrides: list[str], address: str | None) -> SweepOutcome:
    """Run the saved resolved config again: done stages are skipped, nothing else is special."""
    config = load_config(_saved_config(sweep_dir), overrides)
    return run_config(config, sweep_dir.resolve().parent, address)


def sweep_status(sweep_dir: Path) -> list[tuple[Trial, str]]:
    trials = read_trials(sweep_dir)
    if not trials:
        raise UserError(
            f"{sweep_dir}: no trials found; pass the folder of one sweep (results/<sweep name>)."
        )
    return [(t, trial_status(sweep_dir, t)) for t in trials]


def open_ui(results_dir: Path, port: int) -> None:
    import subprocess

    from ablate.tracking import tracking_uri

    uri = tracking_uri(None, results_dir)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise UserError(f"{uri}: no MLflow store yet; run a sweep first.")
    if uri.startswith(("http://", "https://")):
        print(f"MLFLOW_TRACKING_URI points at a server: open {uri} in a browser.")
        return
    subprocess.run(["mlflow", "ui", "--backend-store-uri", uri, "--port", str(port)], check=False)
