"""summary.csv and the per-trial facts the driver tracks, read from the ledger (the truth)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ablate.ledger import TrialLedger, atomic_write_text, read_json, read_jsonl, trial_root
from ablate.plan import Trial

COLUMNS = [
    "trial_id", "arm", "pool", "n_examples", "seed", "status", "judge",
    "judge_mean", "judge_ci_low", "judge_ci_high", "judge_t_low", "judge_t_high",
    "judge_prompts", "judge_scored", "judge_unscored", "judge_unscored_rate", "judge_level_mass",
    "judge_win_rate", "judge_position_consistency", "judge_excellent_rate",
    "judge_calls", "judge_cache_hits", "judge_retries", "judge_cost_usd",
    "heldout_loss", "train_loss", "train_steps", "train_tokens_seen",
    "samples", "response_tokens_mean", "folder",
]  # fmt: skip


def trial_status(sweep_dir: Path, trial: Trial) -> str:
    """'done', 'failed at <stage>: <error>', or 'next: <stage>' from the ledger alone."""
    ledger = TrialLedger(trial_root(sweep_dir, trial), trial.judge_name)
    stage = ledger.next_stage(trial.stage_keys)
    if stage is None:
        return "done"
    failure = ledger.failure()
    if failure is not None and failure.get("stage") == stage:
        return f"failed at {stage}: {failure.get('error')}"
    return f"next: {stage}"


def trial_metrics(sweep_dir: Path, trial: Trial) -> dict[str, Any] | None:
    """The trial's metrics when it is done. The score key chains every earlier stage's key, so
    a score stage done with its planned key means the whole trial is."""
    ledger = TrialLedger(trial_root(sweep_dir, trial), trial.judge_name)
    if not ledger.is_done("score", trial.stage_keys["score"]):
        return None
    return read_json(ledger.stage_dir("score") / "metrics.json")


def loss_curve(sweep_dir: Path, trial: Trial) -> list[tuple[int, float]]:
    path = trial_root(sweep_dir, trial) / "train" / "train_log.jsonl"
    return [(int(r["step"]), float(r["loss"])) for r in read_jsonl(path)] if path.is_file() else []


def trial_records(sweep_dir: Path, trials: list[Trial], params: dict[str, str]) -> list[Any]:
    """What MLflow gets for each done trial: its numeric metrics and its loss curve."""
    from ablate.tracking import TrialRecord

    records = []
    for t in trials:
        metrics = trial_metrics(sweep_dir, t)
        if metrics is not None:
            numeric = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
            curve = loss_curve(sweep_dir, t)
            records.append(
                TrialRecord(
                    t.trial_id, t.folder, t.arm, t.n_examples, t.seed, numeric, params, curve
                )
            )
    return records


def summary_rows(sweep_dir: Path, trials: list[Trial]) -> list[dict[str, Any]]:
    rows = []
    for trial in trials:
        status = trial_status(sweep_dir, trial)
        metrics = (trial_metrics(sweep_dir, trial) if status == "done" else None) or {}
        facts = {
            "trial_id": trial.trial_id,
            "arm": trial.arm,
            "pool": trial.pool,
            "n_examples": trial.n_examples,
            "seed": trial.seed,
            "folder": trial.folder,
            "status": status,
            "judge": trial.judge_name,
        }
        rows.append({c: facts.get(c, metrics.get(c)) for c in COLUMNS})
    return rows


def write_summary(sweep_dir: Path, trials: list[Trial], name: str = "summary.csv") -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary_rows(sweep_dir, trials))
    path = sweep_dir / name
    atomic_write_text(path, buffer.getvalue())
    return path
