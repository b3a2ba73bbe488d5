"""The public functions behind the commands: validate, plan, run, resume, judge, status,
report, data prepare and data inspect.

The driver: it checks everything it can before writing anything (checks.py), starts Ray,
writes the plan, skips what the ledger says is done, hands the rest to the runner (logging
each trial to MLflow as it completes), then writes summary.csv, the report, and the sweep's
analysis to MLflow. Only this module talks to both runner and
tracking.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate import layout
from ablate.answer import Answer, arm_params, write_answer
from ablate.checks import (
    check_environment,
    check_judge,
    check_results_dir,
    check_tracking,
    checked_plan,
    load,
)
from ablate.config.load import config_to_dict, read_yaml
from ablate.config.schema import Config
from ablate.data.checks import check_prepared_sizes, used_pools
from ablate.errors import UserError
from ablate.files import atomic_write_text
from ablate.ledger import (
    TRIAL_LOCK,
    TrialLedger,
    read_trials_noting,
    remove_stale_temporaries,
    trial_root,
    write_plan_file,
    write_trial_file,
)
from ablate.plan import Trial, plan_id, resolved_config
from ablate.results import (
    RESOLVED_CONFIG,
    SUMMARY,
    TrialState,
    damage_notes,
    loss_curve,
    read_states,
    trial_times,
    write_summary,
)

if TYPE_CHECKING:
    from ablate.runner import RayCluster
    from ablate.search_session import SearchSession
    from ablate.tracking import SweepTracker

Notify = Callable[[str], None]  # one line for the user (the CLI prints it to stderr)


def _silent(message: str) -> None:
    return None


@dataclass
class SweepOutcome:
    sweep_dir: Path
    summary: Path
    trials: int
    ran: int
    failed: list[str]
    tracking_uri: str | None
    runs_created: int
    states: list[TrialState] = field(default_factory=list)
    answer: Answer | None = None


def load_and_plan(
    sweep_path: str | Path, overrides: list[str], results_dir: Path = Path("results")
) -> tuple[Config, list[Trial]]:
    """`validate` and `plan`: the same sweep checks `run` makes (checks.py), nothing written."""
    config = load(sweep_path, overrides)
    return config, checked_plan(config, results_dir)


# A resolved config starts and ends with these lines: a file cut short (a full disk, a crash
# of an older writer) can still be valid YAML with whole sections missing, which would silently
# fall back to defaults and change every trial's key.
CONFIG_HEAD = "# ablate resolved config: every setting, merged; `ablate resume` reads it\n"
CONFIG_TAIL = "# end of ablate resolved config\n"


def resolved_config_text(config: Config) -> str:
    from omegaconf import OmegaConf

    resolved = config_to_dict(config)
    resolved["experiment"] = None  # already merged in: resume must not re-read it
    return CONFIG_HEAD + OmegaConf.to_yaml(resolved) + CONFIG_TAIL


def _write_plan(
    config: Config, trials: list[Trial], sweep_dir: Path, key: str, only: set[str] | None = None
) -> None:
    """The resolved config, each trial's files (`only`: just these folders) and plan.json."""
    text = resolved_config_text(config)
    atomic_write_text(sweep_dir / RESOLVED_CONFIG, text)
    for trial in trials:
        if only is None or trial.folder in only:
            write_trial_file(sweep_dir, trial)
            atomic_write_text(trial_root(sweep_dir, trial) / RESOLVED_CONFIG, text)
    write_plan_file(sweep_dir, key, trials)


def _open_tracker(config: Config, results_dir: Path) -> tuple[SweepTracker | None, str | None]:
    """Before any trial runs, so a wrong tracking URI costs seconds, not a sweep."""
    if not config.tracking.enabled:
        return None, None
    from ablate.tracking import SweepTracker, tracking_uri

    uri = tracking_uri(config.tracking.tracking_uri, results_dir)
    return SweepTracker(uri, config.name, layout.artifacts_dir(results_dir)), uri


def trial_records(states: list[TrialState], sweep_dir: Path, config: Config) -> list[Any]:
    """What MLflow gets for each done trial: its resolved settings (its arm's overrides in
    place), numeric metrics, loss curve and real times."""
    from ablate.tracking import TrialRecord, flatten

    records = []
    for s in states:
        if s.metrics is None:
            continue
        t = s.trial
        params = flatten(config_to_dict(resolved_config(config, t)))
        numeric = {
            k: v
            for k, v in s.metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }
        curve = loss_curve(sweep_dir, t)
        record = TrialRecord(
            t.trial_id, t.folder, t.arm, t.n_examples, t.seed, numeric, params, curve
        )
        record.start_time, record.end_time = trial_times(sweep_dir, t)
        records.append(record)
    return records


def _parent_run(
    tracker: SweepTracker, config: Config, key: str, start_time: float | None
) -> str:
    """The plan's parent run (made if missing); a run's start can be set only when it is
    created."""
    from ablate.tracking import flatten

    return tracker.parent_run_id(key, flatten(config_to_dict(config)), start_time)


class _LiveTracking:
    """Each trial goes to MLflow as it completes, so the UI fills while the sweep runs (one
    sync after the last trial showed nothing for hours, then took minutes at 512 trials).

    The parent run is made before the first trial and starts then. A store that fails here is
    said once and left for the sync at the end, which records whatever is still missing (a
    trial's run is made only once: record_trial skips a complete one)."""

    def __init__(self, tracker: SweepTracker, work: _Work) -> None:
        self.tracker, self.config, self.sweep_dir = tracker, work.config, work.sweep_dir
        self.notify = work.notify
        self.by_folder = {t.folder: t for t in work.trials}
        self.parent: str | None = _parent_run(tracker, work.config, work.key(), time.time())
        self.created = 0
        self.recorded: set[str] = set()  # trial folders in MLflow now: the end skips them

    def add(self, trial: Trial) -> None:
        """A trial planned while the sweep runs (a search's)."""
        self.by_folder[trial.folder] = trial

    def trial_done(self, folder: str) -> None:
        trial = self.by_folder.get(folder)
        if self.parent is None or trial is None:
            return
        try:
            for record in trial_records(read_states(self.sweep_dir, [trial]), self.sweep_dir,
                                        self.config):  # fmt: skip
                self.created += self.tracker.record_trial(self.parent, record)
                self.recorded.add(record.folder)
        except UserError as exc:
            self.parent = None
            self.notify(f"note: {exc}; trials are logged to MLflow at the end instead")


def _store_files(config: Config, results_dir: Path) -> list[Path]:
    if not config.tracking.enabled:
        return []
    from ablate.tracking import files_a_new_store_makes, tracking_uri

    uri = tracking_uri(config.tracking.tracking_uri, results_dir)
    return files_a_new_store_makes(uri, layout.artifacts_dir(results_dir))


@contextmanager
def _removed_on_failure(new_files: list[Path], opening: Future[Any]) -> Iterator[None]:
    """A command that fails before its first trial (Ray did not start, the sweep is busy)
    leaves no MLflow store it created behind, though the store opened while Ray started."""
    try:
        yield
    except BaseException:
        wait([opening])
        for path in new_files:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def _track(
    tracker: SweepTracker,
    config: Config,
    key: str,
    states: list[TrialState],
    sweep_dir: Path,
    answer: Answer,
    recorded: frozenset[str] = frozenset(),
) -> int:
    """The trials not yet in MLflow (`recorded`: those logged as they completed, not read or
    looked up again), the analysis, the report, and the parent's end."""
    from ablate.tracking import trial_span

    missing = [s for s in states if s.trial.folder not in recorded]
    records = trial_records(missing, sweep_dir, config)
    parent = _parent_run(tracker, config, key, trial_span(records)[0])
    created = sum(tracker.record_trial(parent, r) for r in records)
    if answer.search is not None:
        tracker.log_search(parent, answer.search)
    else:
        tracker.log_analysis(parent, answer.analysis, arm_params(config))
    tracker.log_report(parent, answer.files.folder)
    failed = not all(s.done for s in states)
    tracker.finish_parent(parent, [sweep_dir / RESOLVED_CONFIG, sweep_dir / SUMMARY], failed)
    return int(created)


def prepare_pools(config: Config, results_dir: Path) -> dict[str, Path]:
    """Materialise every pool an arm uses (once: cached by key) and check it is big enough.

    Building is where a malformed download shows itself, so it runs before Ray, MLflow or the
    plan; a refused build leaves no folder it created behind (the pool itself is built in a
    temporary folder that is removed)."""
    from ablate.data.pools import prepare_pool

    pools_dir = layout.pools_dir(results_dir).resolve()
    created = [d for d in (results_dir, pools_dir) if not d.exists()]
    try:
        folders = {
            name: prepare_pool(name, config.pools[name], pools_dir, config.data.embedding_model)
            for name in used_pools(config)
        }
        check_prepared_sizes(config, folders)
    except BaseException:
        for folder in reversed(created):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return folders


def _record_death(sweep_dir: Path, folder: str, error: str) -> None:
    """A worker that died without recording why (SIGKILL, out of memory, a lost node) gets its
    failure written by the driver from Ray's report, unless some process holds the trial."""
    ledger = TrialLedger(layout.trial_dir(sweep_dir, folder))
    if ledger.is_held():
        return
    running, failure = ledger.running(), ledger.failure()
    if running is None or (failure is not None and failure.get("at", 0) >= running.get("at", 0)):
        return  # the worker said why itself, or never started a stage
    stage = str(running.get("stage"))
    ledger.record_failure(stage, f"the worker died during {stage}: {error}")
    ledger.clear_running()


def _run_pending(
    config: Config,
    pending: list[Trial],
    done_before: int,
    sweep_dir: Path,
    cluster: dict[str, float],
    pool_dirs: dict[str, Path],
    started: float,
    live: _LiveTracking | None,
) -> None:
    from ablate.progress import SweepProgress
    from ablate.runner import run_trials

    with SweepProgress([t.folder for t in pending], done_before, started=started) as progress:

        def on_event(kind: str, folder: str, payload: dict[str, Any]) -> None:
            if kind == "error":
                _record_death(sweep_dir, folder, str(payload.get("error")))
            progress.event(kind, folder, payload)
            if kind == "complete" and live is not None:
                live.trial_done(folder)

        run_trials(config, pending, sweep_dir, pool_dirs, cluster, on_event)


def _run_search(work: _Work, pool_dirs: dict[str, Path], cluster: dict[str, float],
                live: _LiveTracking | None) -> None:  # fmt: skip
    """A search to its budget, then its confirmation; trials are written as they are made."""
    from ablate.progress import SweepProgress
    from ablate.runner import run_trials

    session, sweep_dir = work.search, work.sweep_dir
    assert session is not None
    states = read_states(sweep_dir, session.trials)
    work.notify(session.summary(states))
    written = {t.folder for t in session.trials}

    def write(trials: list[Trial]) -> None:
        new = {t.folder for t in trials} - written
        _write_plan(work.config, trials, sweep_dir, session.key(), new)
        written.update(new)

    pending = [s.trial.folder for s in states if not s.done]
    with SweepProgress(pending, len(states) - len(pending), started=work.started,
                       upcoming=session.upcoming()) as progress:  # fmt: skip

        def on_event(kind: str, folder: str, payload: dict[str, Any]) -> None:
            if kind == "planned" and live is not None:
                live.add(payload["trial"])
            if kind == "error":
                _record_death(sweep_dir, folder, str(payload.get("error")))
            progress.event(kind, folder, payload)
            if kind == "complete" and live is not None:
                live.trial_done(folder)

        session.run_search(pool_dirs, cluster, write, on_event, work.notify)
        confirm = session.confirm_trials(write, on_event, work.notify)
        todo = [s.trial for s in read_states(sweep_dir, confirm) if not s.done]
        if todo:
            run_trials(work.config, todo, sweep_dir, pool_dirs, cluster, on_event)
    work.trials = session.trials


def _base_to_measure(config: Config, sweep_dir: Path) -> Path | None:
    """Where the base model's measurement goes when evaluation.measure_base asks for one not
    done yet (the sweep's own model and generation settings; arms are read against it)."""
    if not config.evaluation.measure_base:
        return None
    from ablate.stages.base import base_key, done_base

    key = base_key(config)
    out = layout.base_dir(sweep_dir) / key[:16]
    return None if done_base(out, key) is not None else out


def _measure_base(config: Config, out: Path, notify: Notify) -> None:
    """Once per sweep, after its trials; a failure is said, never fails the sweep (its trials
    stand; `ablate resume` measures again)."""
    from ray.exceptions import RayError

    from ablate.runner import measure_base_model

    notify("measuring the base model's branching factor (evaluation.measure_base)")
    try:
        measure_base_model(config, out)
    except (RayError, UserError, OSError) as exc:
        notify(f"note: the base model's measurement failed ({str(exc).splitlines()[0][:200]}); "
               "`ablate resume` tries again")  # fmt: skip


def _busy(sweep_dir: Path) -> UserError:
    return UserError(
        f"{sweep_dir}: another `ablate run`, `resume` or `judge` is using this sweep folder; "
        "wait for it to finish (or, if none is running, delete its .lock file)."
    )


@contextmanager
def _sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """One command per sweep folder at a time (creates the folder: call it after the checks)."""
    from filelock import FileLock, Timeout

    sweep_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(sweep_dir / TRIAL_LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise _busy(sweep_dir) from None
    try:
        yield
    finally:
        lock.release()


def _refuse_if_busy(sweep_dir: Path) -> None:
    # Checked before Ray starts and before anything is written; taken for real afterwards.
    if TrialLedger(sweep_dir).is_held():
        raise _busy(sweep_dir)


def _notify_damage(states: list[TrialState], notify: Notify, said: set[str]) -> None:
    for note in damage_notes(states):
        if note not in said:
            said.add(note)
            notify(f"note: {note}; that stage is not counted as done and will be redone")


@dataclass
class _Work:
    """What one command does: the config, its trials, where, and which stages to skip."""

    config: Config
    trials: list[Trial]
    sweep_dir: Path
    address: str | None
    pool_dirs: dict[str, Path] | None = None  # None: prepare the config's pools
    summary_name: str = SUMMARY
    report_name: str = layout.REPORT
    notify: Notify = _silent
    said: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)  # the display's clock counts from here
    search: SearchSession | None = None  # a search: its trials grow while it runs

    def key(self) -> str:
        """The plan's identity (MLflow's parent run): a search's is its settings'."""
        return self.search.key() if self.search is not None else plan_id(self.trials)


def _execute(work: _Work) -> SweepOutcome:
    """Check, then (only then) write: Ray, the lock, MLflow, the plan, the trials, the summary."""
    from ablate.runner import ray_cluster

    config, sweep_dir, results_dir = work.config, work.sweep_dir, work.sweep_dir.parent
    check_results_dir(results_dir)
    states = read_states(sweep_dir, work.trials)
    _notify_damage(states, work.notify, work.said)
    pending = [s.trial for s in states if not s.done]
    finished_before = {s.trial.folder for s in states if s.done}
    base = _base_to_measure(config, sweep_dir)
    to_run = bool(pending) or (work.search is not None and work.search.work_left(states))
    to_run = to_run or base is not None
    if to_run:
        if work.pool_dirs is None:
            check_environment(config)  # only work still to do needs data, models, the judge
        else:
            check_judge(config)
    check_tracking(config, results_dir)
    _refuse_if_busy(sweep_dir)
    pools = work.pool_dirs
    if to_run and pools is None:
        if work.search is None:
            work.notify(f"{len(pending)} of {len(work.trials)} trials to run; preparing their data")
        pools = prepare_pools(config, results_dir)
    with ExitStack() as stack:
        # MLflow's store opens (on a new store: its schema migrations, seconds) while Ray
        # starts, which mostly waits on its processes; a failure still stops the command
        # before any trial runs.
        new_files = _store_files(config, results_dir)
        opening = stack.enter_context(ThreadPoolExecutor(1)).submit(
            _open_tracker, config, results_dir
        )
        cluster: RayCluster | None = None
        with _removed_on_failure(new_files, opening):
            if to_run:
                work.notify(f"starting Ray ({work.address or 'on this machine'})")
                cluster = stack.enter_context(ray_cluster(work.address, config.resources))
            stack.enter_context(_sweep_lock(sweep_dir))
            tracker, uri = opening.result()
        if work.pool_dirs is None:
            remove_stale_temporaries(sweep_dir)
            _write_plan(config, work.trials, sweep_dir, work.key())
        live = None
        if cluster is not None and pools is not None:
            done_before = len(work.trials) - len(pending)
            live = _LiveTracking(tracker, work) if tracker else None
            if work.search is not None:
                _run_search(work, pools, cluster.resources, live)
            elif pending:
                _run_pending(
                    config, pending, done_before, sweep_dir, cluster.resources, pools,
                    work.started, live,
                )  # fmt: skip
            if base is not None:
                _measure_base(config, base, work.notify)
            cluster.stop_in_background()  # Ray stops while the summary and report are written
        states = read_states(sweep_dir, work.trials)
        _notify_damage(states, work.notify, work.said)
        summary = write_summary(sweep_dir, states, work.summary_name)
        answer = write_answer(config, sweep_dir, states, work.report_name)
        recorded = frozenset(live.recorded) if live is not None else frozenset()
        created = (
            _track(tracker, config, work.key(), states, sweep_dir, answer, recorded)
            if tracker
            else 0
        )
        created += live.created if live is not None else 0
    failed = [s.trial.folder for s in states if not s.done]
    ran = len({t.folder for t in work.trials} - finished_before)
    return SweepOutcome(
        sweep_dir, summary, len(work.trials), ran, failed, uri, created, states, answer
    )


def run_config(
    config: Config, sweep_dir: Path, address: str | None, notify: Notify = _silent
) -> SweepOutcome:
    trials = checked_plan(config, sweep_dir.parent)
    work = _Work(config, trials, sweep_dir.resolve(), address, notify=notify)
    if config.search is not None:
        from ablate.search_session import SearchSession

        work.search = SearchSession.open(config, work.sweep_dir)
        work.trials = work.search.trials
        for note in work.search.saved.dropped:
            notify(f"note: {note}; it is left out of the search")
    return _execute(work)


def run_sweep(
    sweep_path: str | Path,
    overrides: list[str],
    results_dir: Path,
    address: str | None,
    notify: Notify = _silent,
) -> SweepOutcome:
    config = load(sweep_path, overrides)
    return run_config(config, results_dir / config.name, address, notify)


def _readable_config(path: Path) -> bool:
    """Whole: it parses and, when written with the head line, still has its tail line (files
    from before the head line are trusted if they load)."""
    try:
        text = path.read_text(encoding="utf-8")
        if text.startswith(CONFIG_HEAD) and not text.endswith(CONFIG_TAIL):
            return False
        if text.startswith(CONFIG_HEAD):
            read_yaml(path)
        else:
            load(path)
    except (OSError, UnicodeDecodeError, UserError):
        return False
    return True


def _require_folder(sweep_dir: Path) -> None:
    if sweep_dir.is_file():
        raise UserError(f"{sweep_dir}: is a file; pass the folder of one sweep (results/<name>).")
    if not sweep_dir.exists():
        raise UserError(f"{sweep_dir}: no such folder; pass the folder of one sweep.")


def saved_config(sweep_dir: Path, notify: Notify = _silent) -> Path:
    """The sweep's resolved config; a trial's copy of it when the sweep's own is damaged."""
    _require_folder(sweep_dir)
    config_path = sweep_dir / RESOLVED_CONFIG
    if not config_path.is_file() and not (sweep_dir / layout.TRIALS).is_dir():
        raise UserError(
            f"{sweep_dir}: no {RESOLVED_CONFIG} here; is this a folder that "
            "`ablate run` wrote (results/<sweep name>)?"
        )
    if _readable_config(config_path):
        return config_path
    for copy in sorted((sweep_dir / layout.TRIALS).glob(f"*/{RESOLVED_CONFIG}")):
        if _readable_config(copy):
            notify(f"note: {config_path} is missing or damaged; using its copy {copy}")
            return copy
    raise UserError(
        f"{config_path}: missing or damaged, and no trial folder holds a readable copy; "
        "run the sweep file again with `ablate run`."
    )


def _config_for_folder(config: Config, sweep_dir: Path, notify: Notify) -> Config:
    """Resume works on the folder it is handed: a copied or renamed sweep folder continues
    there, under the folder's name (its MLflow experiment too), never in the original."""
    if config.name == sweep_dir.name:
        return config
    name = sweep_dir.name
    if not name.replace("-", "").replace("_", "").isalnum():
        raise UserError(
            f"{sweep_dir}: the folder name '{name}' cannot be a sweep name (letters, digits, "
            f"'-' or '_'); rename the folder, or resume the original results/{config.name}."
        )
    notify(
        f"note: {sweep_dir} holds sweep '{config.name}' under another name (a copy or a "
        f"rename): resuming it here as sweep '{name}' (MLflow experiment '{name}')."
    )
    return dataclasses.replace(config, name=name)


def resume_sweep(
    sweep_dir: Path, overrides: list[str], address: str | None, notify: Notify = _silent
) -> SweepOutcome:
    """Run the saved resolved config again, in `sweep_dir`: done stages are skipped."""
    if any(o.split("=", 1)[0].strip() == "name" for o in overrides):
        raise UserError(
            "name: `ablate resume` continues the sweep in the folder it is given; to run it "
            "under another name, copy the folder (cp -a results/a results/b) and resume the copy."
        )
    sweep_dir = sweep_dir.resolve()
    config = load(saved_config(sweep_dir, notify), overrides)
    return run_config(_config_for_folder(config, sweep_dir, notify), sweep_dir, address, notify)


def _without_generations(sweep_dir: Path, trials: list[Trial]) -> list[str]:
    return [
        t.folder
        for t in trials
        if not TrialLedger(trial_root(sweep_dir, t)).is_done("generate", t.stage_keys["generate"])
    ]


def _refuse_overwrite(sweep_dir: Path, trials: list[Trial]) -> None:
    """A judge name already holding results from other judge settings is not reused."""
    for t in trials:
        marker = TrialLedger(trial_root(sweep_dir, t), t.judge_name).done_marker("judge")
        if marker is not None and marker.get("key") != t.stage_keys["judge"]:
            raise UserError(
                f"judge.name: '{t.judge_name}' already holds judgments made with other settings "
                f"in {t.folder}; choose another judge.name (or leave it unset: the default "
                "name carries a hash of the settings)."
            )


def rejudge_sweep(
    sweep_dir: Path, overrides: list[str], address: str | None, notify: Notify = _silent
) -> SweepOutcome:
    """Judge a sweep's generations again with other judge.* settings, never regenerating.

    The results go to judge/<judge name>/ and score/<judge name>/ in each trial and to
    summary-<judge name>.csv; the sweep's own config, plan and summary stay as they are."""
    from ablate.judge.backends import judge_fingerprint
    from ablate.plan import rejudged_trials
    from ablate.stages import code_versions

    not_judge = [o for o in overrides if not o.startswith("judge.")]
    if not_judge:
        raise UserError(
            f"ablate judge takes judge.* settings only, not {not_judge}; change "
            "other settings with `ablate run`."
        )
    sweep_dir = sweep_dir.resolve()
    config = load(saved_config(sweep_dir, notify), overrides)
    config = _config_for_folder(config, sweep_dir, notify)
    saved, notes = read_trials_noting(sweep_dir)
    for note in notes:
        notify(f"note: {note}")
    trials = rejudged_trials(config, saved, judge_fingerprint(config.judge), code_versions)
    missing = _without_generations(sweep_dir, trials)
    if missing:
        raise UserError(
            f"{sweep_dir}: no generations yet for {', '.join(missing)}; finish the "
            f"sweep first (`ablate resume {sweep_dir}`)."
        )
    if config.judge.name:
        _refuse_overwrite(sweep_dir, trials)
    # Selection is done: pools are not read again.
    no_pools = {pool: Path() for t in trials for pool in t.weights}
    judge = trials[0].judge_name
    summary = layout.judged_name(layout.SUMMARY, judge)
    work = _Work(config, trials, sweep_dir, address, no_pools, summary)
    work.report_name, work.notify = layout.judged_name(layout.REPORT, judge), notify
    return _execute(work)


def report_sweep(sweep_dir: Path, notify: Notify = _silent) -> Answer:
    """`ablate report`: the sweep's report from what is done now (any part of the plan);
    writes only DIR/<sweep>/report/."""
    sweep_dir = sweep_dir.resolve()
    config = _config_for_folder(load(saved_config(sweep_dir, notify)), sweep_dir, notify)
    trials, notes = read_trials_noting(sweep_dir)
    if not trials:
        raise UserError(f"{sweep_dir}: no trials planned yet; run the sweep first.")
    for note in notes:
        notify(f"note: {note}")
    states = read_states(sweep_dir, trials)
    _notify_damage(states, notify, set())
    return write_answer(config, sweep_dir, states)


def sweep_status(sweep_dir: Path) -> tuple[list[TrialState], list[str]]:
    """Each trial's state (read once) and notes on damaged files met on the way."""
    _require_folder(sweep_dir)
    trials, notes = read_trials_noting(sweep_dir)
    if not trials:
        if notes:
            raise UserError(f"{sweep_dir}: {'; '.join(notes)}; `ablate resume` rewrites them.")
        raise UserError(
            f"{sweep_dir}: no trials found; pass the folder of one sweep (results/<sweep name>)."
        )
    states = read_states(sweep_dir, trials)
    return states, notes + damage_notes(states)


@dataclass
class PreparedPool:
    name: str
    source: str
    records: int
    folder: Path
    # What the build warned about (a source file that added nothing, no records at all),
    # for the CLI to print; also in the pool's manifest, shown by `ablate data inspect`.
    warnings: list[str] = field(default_factory=list)


def prepare_pools_of(
    config_path: Path, overrides: list[str], results_dir: Path
) -> list[PreparedPool]:
    """`ablate data prepare`: every pool an experiment or sweep file defines, built (or found)
    under results/pools."""
    from ablate.data.checks import require_data
    from ablate.data.pools import prepare_pool, read_manifest
    from ablate.data.stats import manifest_warnings

    config = load(config_path, overrides, require_sweep=False)
    require_data(config)
    pools_dir = layout.pools_dir(results_dir).resolve()
    prepared = []
    for name, pool in sorted(config.pools.items()):
        folder = prepare_pool(name, pool, pools_dir, config.data.embedding_model)
        manifest = read_manifest(folder)
        prepared.append(
            PreparedPool(
                name, pool.source, manifest["stats"]["records"], folder, manifest_warnings(manifest)
            )
        )
    return prepared


def inspect_pool(folder: Path) -> str:
    """`ablate data inspect`: what a prepared pool holds and what each filter rule removed."""
    from ablate.data.pools import read_manifest
    from ablate.data.stats import format_manifest_table

    return format_manifest_table(read_manifest(folder))
