"""What is done is on disk: results/<sweep>/trials/<trial>/<stage>/ with a done marker.

A stage writes into a hidden temporary folder; the done marker (holding the stage key and the
size of every file the stage wrote) is written last inside it, and the folder is then renamed
into place. A crash at any point leaves either the old complete stage or none, never a
half-written one. A stage counts as done only when its marker holds the key the plan expects
and its files are all there with their recorded sizes: a damaged marker or a deleted or
truncated file means "not done", so resume redoes that stage (and says so once).

Who may write what (the sweep lock is held by the driver; a worker holds only its trial's):
- the driver, holding the sweep folder's .lock: config.yaml, plan.json, each trial's
  trial.json and config.yaml, summary files, and the removal of stale temporary folders of
  trials whose own lock is free;
- a worker, holding its trial folder's .lock (released by the kernel when the process dies):
  that trial's stage folders and its _running.json / _failed.json, each by atomic rename.
A worker orphaned by a killed driver therefore finishes (or dies) without racing the next
run: the next worker of that trial waits for the lock and then finds the stage done.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ablate import layout
from ablate.errors import UserError
from ablate.files import atomic_write_json, read_json_object
from ablate.plan import JUDGED_STAGES, STAGES, Trial

DONE = "_done.json"
FAILED = "_failed.json"
RUNNING = "_running.json"
TRIAL_LOCK = layout.LOCK
TRIAL_FILE = layout.TRIAL_FILE
DEFAULT_JUDGE = "default"
PLAN_FILE = layout.PLAN
# How long a worker waits for a trial folder another process holds (an orphaned worker of a
# killed driver dies within seconds; a live one elsewhere means two sweeps share the folder).
TRIAL_LOCK_WAIT_S = 600.0


def _file_sizes(folder: Path) -> dict[str, int]:
    """Relative path -> size of every file a stage wrote (its integrity check on later reads)."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != DONE
    }


def _files_problem(folder: Path, files: Any) -> str | None:
    if files is None:
        return None  # a marker from before sizes were recorded: trusted as it is
    if not isinstance(files, dict):
        return "its file list is damaged"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} when written"
    return None


def _lock_is_held(path: Path) -> bool:
    """Whether some process holds the flock on `path` (without creating it: status only reads)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops a lock we may just have taken
    return False


class TrialLedger:
    """One trial's folder. Plain paths in, plain values out, so Ray workers can use it.

    `damaged` collects one note per damaged marker or file found while reading, so a command
    can say once what it is about to redo."""

    def __init__(self, root: Path, judge_name: str = DEFAULT_JUDGE) -> None:
        self.root = Path(root)
        self.judge_name = judge_name
        self.damaged: list[str] = []

    def stage_dir(self, stage: str) -> Path:
        # Judging and scoring are per judge, so another judge's results sit beside, not over.
        if stage in JUDGED_STAGES:
            return self.root / stage / self.judge_name
        return self.root / stage

    def done_marker(self, stage: str) -> dict[str, Any] | None:
        """The stage's marker when the stage is intact; None (noted in `damaged`) otherwise."""
        folder = self.stage_dir(stage)
        marker, why = read_json_object(folder / DONE)
        if marker is None:
            if why != "missing":
                self._note(f"{folder / DONE} is {why}")
            return None
        problem = _files_problem(folder, marker.get("files"))
        if problem is not None:
            self._note(f"{folder}: {problem}")
            return None
        return marker

    def _note(self, text: str) -> None:
        if text not in self.damaged:
            self.damaged.append(text)

    def is_done(self, stage: str, key: str) -> bool:
        marker = self.done_marker(stage)
        return marker is not None and marker.get("key") == key

    def next_stage(self, keys: dict[str, str]) -> str | None:
        """The first stage not done with its planned key; None when the trial is complete."""
        return next((s for s in STAGES if not self.is_done(s, keys[s])), None)

    @contextmanager
    def write_stage(
        self, stage: str, key: str, info: dict[str, Any] | None = None
    ) -> Iterator[Path]:
        """Yield an empty temporary folder; on success it becomes the stage folder, done."""
        final = self.stage_dir(stage)
        tmp = self.root / f".{stage}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        started = time.time()
        try:
            yield tmp
            marker = {
                "key": key,
                "stage": stage,
                "seconds": round(time.time() - started, 3),
                "finished_at": time.time(),
                "files": _file_sizes(tmp),
            }
            atomic_write_json(tmp / DONE, {**marker, **(info or {})})
            self._swap_in(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (self.root / FAILED).unlink(missing_ok=True)

    def _swap_in(self, tmp: Path, final: Path) -> None:
        # os.replace cannot replace a non-empty folder: move the old one aside first.
        final.parent.mkdir(parents=True, exist_ok=True)
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        if final.exists():
            final.rename(old)
        try:
            tmp.rename(final)
        except BaseException:
            if old.exists():
                old.rename(final)  # keep the previous complete stage
            raise
        shutil.rmtree(old, ignore_errors=True)

    @contextmanager
    def hold(self, wait_s: float = TRIAL_LOCK_WAIT_S) -> Iterator[None]:
        """Own the trial folder while running its stages (see the module docstring)."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / TRIAL_LOCK, timeout=wait_s)
        try:
            lock.acquire()
        except Timeout:
            holder = self.running() or {}
            raise UserError(
                f"{self.root}: another process (host {holder.get('host', '?')}, pid "
                f"{holder.get('pid', '?')}) has been running this trial for over {wait_s:.0f}s; "
                "is another `ablate run` using the same results folder?"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def is_held(self) -> bool:
        return _lock_is_held(self.root / TRIAL_LOCK)

    def mark_running(self, stage: str) -> None:
        info = {"stage": stage, "host": socket.gethostname(), "pid": os.getpid()}
        atomic_write_json(self.root / RUNNING, info | {"at": time.time()})

    def clear_running(self) -> None:
        (self.root / RUNNING).unlink(missing_ok=True)

    def running(self) -> dict[str, Any] | None:
        """The stage a worker said it started and has not finished (alive or not)."""
        return read_json_object(self.root / RUNNING)[0]

    def record_failure(self, stage: str, message: str) -> None:
        atomic_write_json(self.root / FAILED, {"stage": stage, "error": message, "at": time.time()})

    def failure(self) -> dict[str, Any] | None:
        return read_json_object(self.root / FAILED)[0]


def trial_root(sweep_dir: Path, trial: Trial) -> Path:
    return layout.trial_dir(sweep_dir, trial.folder)


def _trial_spec(trial: Trial) -> dict[str, Any]:
    return {
        "trial_id": trial.trial_id,
        "folder": trial.folder,
        "arm": trial.arm,
        "pool": trial.pool,
        "n_examples": trial.n_examples,
        "seed": trial.seed,
        "stage_keys": trial.stage_keys,
        "judge_name": trial.judge_name,
        "data": trial.weights,
        "overrides": trial.overrides,
        "family": trial.family,
        **({"search": trial.search} if trial.search is not None else {}),
    }


def _search_of(entry: Any) -> dict[str, Any] | None:
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("params"), dict):
        raise ValueError("damaged search entry")
    return dict(entry)


def _trial_from_spec(spec: Any) -> Trial | None:
    """The trial a spec describes; None when the spec is damaged."""
    try:
        keys = spec["stage_keys"]
        data = {str(p): float(w) for p, w in (spec.get("data") or {}).items()}
        trial = Trial(
            str(spec["arm"]),
            str(spec["pool"]),
            int(spec["n_examples"]),
            int(spec["seed"]),
            {stage: str(keys[stage]) for stage in STAGES},
            str(spec.get("judge_name", DEFAULT_JUDGE)),
            data if len(data) > 1 else None,  # older files: one pool, named in "pool"
            dict(spec.get("overrides") or {}),
            str(spec.get("family") or ""),
            _search_of(spec.get("search")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return trial


def write_trial_file(sweep_dir: Path, trial: Trial) -> None:
    atomic_write_json(trial_root(sweep_dir, trial) / TRIAL_FILE, _trial_spec(trial))


def write_plan_file(sweep_dir: Path, plan_id: str, trials: list[Trial]) -> None:
    """The current plan, in plan order, with each trial's whole spec: plan.json and the trial
    files back each other up (trial folders from older plans may still be on disk)."""
    atomic_write_json(
        sweep_dir / PLAN_FILE, {"plan_id": plan_id, "trials": [_trial_spec(t) for t in trials]}
    )


def _trial_from_folder(sweep_dir: Path, folder: str, notes: list[str]) -> Trial | None:
    path = layout.trial_dir(sweep_dir, folder) / TRIAL_FILE
    spec, why = read_json_object(path)
    trial = _trial_from_spec(spec) if spec is not None else None
    if trial is None:
        notes.append(f"{path} is {why or 'damaged (fields missing)'}")
    return trial


def read_trial_file(sweep_dir: Path, folder: str) -> Trial | None:
    """One trial's own file (a search's trials are read so by its workers)."""
    return _trial_from_folder(sweep_dir, folder, [])


def read_trials_noting(sweep_dir: Path) -> tuple[list[Trial], list[str]]:
    """The trials of the last plan written to this sweep folder, in plan order, and notes on
    damaged files met on the way (plan.json and the trial files back each other up)."""
    notes: list[str] = []
    plan, why = read_json_object(sweep_dir / PLAN_FILE)
    entries = plan.get("trials") if plan is not None else None
    if plan is None or not isinstance(entries, list):
        folders = sorted(p.parent.name for p in (sweep_dir / layout.TRIALS).glob(f"*/{TRIAL_FILE}"))
        if why == "missing" or not folders:
            return [], notes  # not a sweep folder, or one whose plan was never written
        notes.append(
            f"{sweep_dir / PLAN_FILE} is {why or 'damaged (no trial list)'}: listing every "
            "trial folder, older plans' included, until `ablate resume` writes it again"
        )
        trials = [_trial_from_folder(sweep_dir, f, notes) for f in folders]
        return [t for t in trials if t is not None], notes
    result = []
    for entry in entries:
        # Older plan files list folder names only: their trial files hold the specs.
        trial = _trial_from_spec(entry) if isinstance(entry, dict) else None
        if trial is None and isinstance(entry, str | dict):
            folder = entry if isinstance(entry, str) else str(entry.get("folder", ""))
            trial = _trial_from_folder(sweep_dir, folder, notes) if folder else None
        if trial is not None:
            result.append(trial)
    return result, notes


def read_trials(sweep_dir: Path) -> list[Trial]:
    return read_trials_noting(sweep_dir)[0]


def remove_stale_temporaries(sweep_dir: Path) -> int:
    """Delete stage folders a killed worker left half-written, in trials no live worker holds
    (an orphaned worker of a killed driver may still be writing its own)."""
    removed = 0
    for root in sorted(p for p in (sweep_dir / layout.TRIALS).glob("*") if p.is_dir()):
        if TrialLedger(root).is_held():
            continue
        stale = [
            p for p in root.glob(".*") if p.is_dir() and (".tmp-" in p.name or ".old-" in p.name)
        ]
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        removed += len(stale)
    return removed
