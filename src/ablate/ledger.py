"""What is done is on disk: results/<sweep>/trials/<trial>/<stage>/ with a done marker.

A stage writes into a hidden temporary folder; the done marker (holding the stage key) is
written last inside it, and the folder is then renamed into place. A crash at any point leaves
either the old complete stage or none, never a half-written one. A stage counts as done only
when its marker holds the key the plan expects, so a changed setting re-runs that stage.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ablate.plan import STAGES, Trial

DONE = "_done.json"
FAILED = "_failed.json"
TRIAL_FILE = "trial.json"
JUDGED_STAGES = ("judge", "score")
DEFAULT_JUDGE = "default"
PLAN_FILE = "plan.json"
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: os.umask can only be read by setting it


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes owner-only files; results on shared storage must stay readable.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class TrialLedger:
    """One trial's folder. Plain paths in, plain values out, so Ray workers can use it."""

    def __init__(self, root: Path, judge_name: str = DEFAULT_JUDGE) -> None:
        self.root = Path(root)
        self.judge_name = judge_name

    def stage_dir(self, stage: str) -> Path:
        # Judging and scoring are per judge, so another judge's results sit beside, not over.
        if stage in JUDGED_STAGES:
            return self.root / stage / self.judge_name
        return self.root / stage

    def done_marker(self, stage: str) -> dict[str, Any] | None:
        marker = self.stage_dir(stage) / DONE
        return read_json(marker) if marker.is_file() else None

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
            marker = {"key": key, "stage": stage, "seconds": round(time.time() - started, 3)}
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

    def record_failure(self, stage: str, message: str) -> None:
        atomic_write_json(self.root / FAILED, {"stage": stage, "error": message, "at": time.time()})

    def failure(self) -> dict[str, Any] | None:
        path = self.root / FAILED
        return read_json(path) if path.is_file() else None


def trial_root(sweep_dir: Path, trial: Trial) -> Path:
    return sweep_dir / "trials" / trial.folder


def write_trial_file(sweep_dir: Path, trial: Trial) -> None:
    spec = {
        "trial_id": trial.trial_id,
        "arm": trial.arm,
        "pool": trial.pool,
        "n_examples": trial.n_examples,
        "seed": trial.seed,
        "stage_keys": trial.stage_keys,
        "judge_name": trial.judge_name,
    }
    atomic_write_json(trial_root(sweep_dir, trial) / TRIAL_FILE, spec)


def write_plan_file(sweep_dir: Path, plan_id: str, trials: list[Trial]) -> None:
    """The current plan, in plan order: trial folders from older plans may still be on disk."""
    atomic_write_json(
        sweep_dir / PLAN_FILE, {"plan_id": plan_id, "trials": [t.folder for t in trials]}
    )


def read_trials(sweep_dir: Path) -> list[Trial]:
    """The trials of the last plan written to this sweep folder, in plan order."""
    plan_path = sweep_dir / PLAN_FILE
    if not plan_path.is_file():
        return []
    trials = []
    for folder in read_json(plan_path)["trials"]:
        spec = read_json(sweep_dir / "trials" / folder / TRIAL_FILE)
        trials.append(
            Trial(
                spec["arm"],
                spec["pool"],
                spec["n_examples"],
                spec["seed"],
                spec["stage_keys"],
                spec.get("judge_name", DEFAULT_JUDGE),
            )
        )
    return trials


def remove_stale_temporaries(sweep_dir: Path) -> int:
    """Delete stage folders a killed worker left half-written; only while holding the lock."""
    stale = [
        p
        for p in sweep_dir.glob("trials/*/.*")
        if p.is_dir() and (".tmp-" in p.name or ".old-" in p.name)
    ]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)
