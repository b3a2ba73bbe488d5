"""The sweep folder as the driver reads it: each trial's state (read once per command, with
notes on anything damaged), summary.csv, and the per-trial facts tracking gets.

States, from the ledger alone:
- "done": every stage done with its planned key and its files intact;
- "running <stage>": a worker holds the trial folder now;
- "failed at <stage>: <reason>": the worker recorded why (or the driver did, from Ray's report,
  when the worker died before it could);
- "interrupted at <stage>": a stage started and neither finished nor failed, and no worker holds
  the folder: the process was killed (SIGKILL, out of memory, a lost node);
- "next: <stage>": not started, or stopped between stages.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ablate import layout
from ablate.files import atomic_write_text, read_json_object, read_jsonl_lenient
from ablate.ledger import DONE, TrialLedger, trial_root
from ablate.plan import Trial

RESOLVED_CONFIG = layout.CONFIG
SUMMARY = layout.SUMMARY
INTERRUPTED = "no failure recorded: killed, out of memory or a lost node"

COLUMNS = [
    "trial_id", "arm", "pool", "data", "overrides", "n_examples", "seed", "status", "judge",
    "judge_mean", "judge_ci_low", "judge_ci_high",
    "judge_t_mean", "judge_t_low", "judge_t_high", "judge_unscored_flag",
    "judge_prompts", "judge_scored", "judge_unscored", "judge_unscored_rate",
    "judge_unscored_rate_ci_low", "judge_unscored_rate_ci_high", "judge_level_mass",
    "judge_win_rate", "judge_win_rate_ci_low", "judge_win_rate_ci_high",
    "judge_position_consistency",
    "judge_excellent_rate", "judge_excellent_rate_ci_low", "judge_excellent_rate_ci_high",
    "judge_safe_rate", "judge_safe_rate_ci_low", "judge_safe_rate_ci_high",
    "judge_calls", "judge_cache_hits", "judge_retries", "judge_repairs", "judge_failed_calls",
    "judge_calls_maybe_repaid", "judge_prompt_tokens", "judge_completion_tokens",
    "judge_cached_prompt_tokens", "judge_cached_completion_tokens", "judge_cost_usd",
    "heldout_loss", "heldout_loss_ci_low", "heldout_loss_ci_high",
    "train_loss", "train_steps", "train_tokens_seen",
    "samples", "response_tokens_mean",
    "branching_factor", "branching_factor_ci_low", "branching_factor_ci_high",
    "branching_factor_first", "branching_factor_first_ci_low", "branching_factor_first_ci_high",
    "branching_prompts", "folder",
]  # fmt: skip
SIGNIFICANT_DIGITS = 6  # a judge mean to 6 digits is far finer than its interval


@dataclass(frozen=True)
class TrialState:
    trial: Trial
    kind: str  # done | running | failed | interrupted | pending
    stage: str | None  # the stage it is at (None when done)
    reason: str = ""
    metrics: dict[str, Any] | None = None  # when done
    notes: list[str] = field(default_factory=list)  # damaged files met while reading

    @property
    def done(self) -> bool:
        return self.kind == "done"

    @property
    def label(self) -> str:
        """One line for `ablate status`, summary.csv and the end of a run."""
        if self.kind == "done":
            return "done"
        if self.kind == "running":
            return f"running {self.stage} ({self.reason})"
        if self.kind == "failed":
            return f"failed at {self.stage}: {self.reason}"
        if self.kind == "interrupted":
            return f"interrupted at {self.stage} ({self.reason})"
        return f"next: {self.stage}"


def _metrics(ledger: TrialLedger) -> dict[str, Any] | None:
    metrics, why = read_json_object(ledger.stage_dir("score") / "metrics.json")
    if metrics is None:
        ledger.damaged.append(f"{ledger.stage_dir('score') / 'metrics.json'} is {why}")
    return metrics


def _unfinished(trial: Trial, ledger: TrialLedger, stage: str) -> TrialState:
    notes = ledger.damaged
    running = ledger.running()
    if ledger.is_held():
        where = f"host {running.get('host')}, pid {running.get('pid')}" if running else "held"
        return TrialState(trial, "running", (running or {}).get("stage", stage), where, None, notes)
    failure = ledger.failure()
    failed_at = failure.get("at", 0) if failure else 0
    if running is not None and running.get("at", 0) >= failed_at:
        return TrialState(trial, "interrupted", stage, INTERRUPTED, None, notes)
    if failure is not None and failure.get("stage") == stage:
        return TrialState(trial, "failed", stage, str(failure.get("error")), None, notes)
    return TrialState(trial, "pending", stage, "", None, notes)


def read_state(sweep_dir: Path, trial: Trial) -> TrialState:
    """The trial's state from its folder (see the module docstring). The score key chains
    every earlier stage's key, so a score stage done with its planned key means the trial is."""
    ledger = TrialLedger(trial_root(sweep_dir, trial), trial.judge_name)
    stage = ledger.next_stage(trial.stage_keys)
    if stage is None:
        metrics = _metrics(ledger)
        if metrics is not None:
            return TrialState(trial, "done", None, "", metrics, ledger.damaged)
        stage = "score"
    return _unfinished(trial, ledger, stage)


def read_states(sweep_dir: Path, trials: list[Trial]) -> list[TrialState]:
    return [read_state(sweep_dir, t) for t in trials]


def damage_notes(states: list[TrialState]) -> list[str]:
    """Each damaged file once, in trial order."""
    seen: dict[str, None] = {}
    for state in states:
        seen |= dict.fromkeys(state.notes)
    return list(seen)


def loss_curve(sweep_dir: Path, trial: Trial) -> list[tuple[int, float]]:
    """(step, loss) from the train log; lines a crash cut off are skipped."""
    rows = read_jsonl_lenient(trial_root(sweep_dir, trial) / "train" / "train_log.jsonl")
    curve = []
    for row in rows:
        try:
            curve.append((int(row["step"]), float(row["loss"])))
        except (KeyError, TypeError, ValueError):
            continue
    return curve


def judge_scores(sweep_dir: Path, trial: Trial) -> dict[str, list[float | None]]:
    """prompt id -> the judge's score of each sample (None = unscored), in file order."""
    ledger = TrialLedger(trial_root(sweep_dir, trial), trial.judge_name)
    scores: dict[str, list[float | None]] = {}
    for j in read_jsonl_lenient(ledger.stage_dir("judge") / "judgments.jsonl"):
        value = j.get("score") if j.get("scored") else None
        scores.setdefault(str(j.get("prompt_id")), []).append(
            float(value) if isinstance(value, int | float) else None
        )
    return scores


def response_lengths(sweep_dir: Path, trial: Trial) -> dict[str, list[float | None]] | None:
    """prompt id -> the response tokens of each judged sample, aligned with judge_scores (the
    judgments joined with generate/samples.jsonl on prompt id and sample); None when the
    samples file is missing. A judgment whose sample has no length gets None."""
    path = trial_root(sweep_dir, trial) / "generate" / "samples.jsonl"
    if not path.is_file():
        return None
    tokens: dict[tuple[str, Any], float] = {}
    for row in read_jsonl_lenient(path):
        n = row.get("n_tokens")
        if isinstance(n, int | float) and not isinstance(n, bool):
            tokens[(str(row.get("prompt_id")), row.get("sample"))] = float(n)
    ledger = TrialLedger(trial_root(sweep_dir, trial), trial.judge_name)
    lengths: dict[str, list[float | None]] = {}
    for j in read_jsonl_lenient(ledger.stage_dir("judge") / "judgments.jsonl"):
        pid = str(j.get("prompt_id"))
        lengths.setdefault(pid, []).append(tokens.get((pid, j.get("sample"))))
    return lengths


def reference_lengths(
    sweep_dir: Path, trial: Trial, reference_arm: str | None = None
) -> dict[str, float] | None:
    """prompt id -> its pairwise reference's tokens (the score stage's reference_lengths.jsonl);
    None when the trial has none (another judge mode, or scored before it was kept and not
    recoverable). A sweep judged against ``reference_arm`` (judge.reference_arm) that was
    scored before the file was kept gets them from the reference trial's samples instead,
    counted as the score stage counts them (_reference_arm_lengths); only a reference file's
    need the worker's tokenizer, so only those trials need scoring again."""
    from ablate.records import REFERENCE_LENGTHS

    ledger = TrialLedger(trial_root(sweep_dir, trial), trial.judge_name)
    path = ledger.stage_dir("score") / REFERENCE_LENGTHS
    if not path.is_file():
        return _reference_arm_lengths(sweep_dir, trial, reference_arm) if reference_arm else None
    found = {}
    for row in read_jsonl_lenient(path):
        if (n := _count(row.get("n_tokens"))) is not None:
            found[str(row.get("prompt_id"))] = n
    return found


def _reference_arm_lengths(
    sweep_dir: Path, trial: Trial, reference_arm: str
) -> dict[str, float] | None:
    """prompt id -> the n_tokens of the reference arm's first sample at the trial's grid point,
    size and seed (its generate/samples.jsonl), as the score stage records them; None for the
    reference arm's own trials (not compared with themselves) and when that trial has no done
    generations. The trial's judge key chains the reference's generate key (generating them
    again judges the trial again), so these are the samples it was judged against."""
    from ablate.judge.references import first_samples
    from ablate.records import Sample
    from ablate.stages.judge import reference_variant

    arm = reference_variant(reference_arm, trial.family)
    if arm is None or arm == trial.arm:
        return None
    generate = TrialLedger(trial_root(sweep_dir, replace(trial, arm=arm))).stage_dir("generate")
    if not (generate / DONE).is_file():
        return None
    rows: list[Sample] = [
        row  # type: ignore[misc]
        for row in read_jsonl_lenient(generate / "samples.jsonl")
        if isinstance(row.get("sample"), int) and _count(row.get("n_tokens")) is not None
    ]
    return {str(p): float(row["n_tokens"]) for p, row in first_samples(rows).items()}


def _count(n: Any) -> float | None:
    return float(n) if isinstance(n, int | float) and not isinstance(n, bool) else None


def heldout_by_prompt(sweep_dir: Path, trial: Trial) -> dict[str, tuple[float, int]] | None:
    """prompt id -> (loss sum, tokens) of its reference response; None when the trial was
    generated before these were kept."""
    path = trial_root(sweep_dir, trial) / "generate" / "heldout_losses.jsonl"
    if not path.is_file():
        return None
    rows = read_jsonl_lenient(path)
    return {str(r["prompt_id"]): (float(r["loss_sum"]), int(r["tokens"])) for r in rows}


def task_scores(sweep_dir: Path, trial: Trial) -> dict[str, dict[str, list[float | None]]] | None:
    """task -> prompt id -> each response's correctness (1.0 / 0.0), from generate/tasks.jsonl;
    None when the trial answered no task."""
    path = trial_root(sweep_dir, trial) / "generate" / "tasks.jsonl"
    if not path.is_file():
        return None
    scores: dict[str, dict[str, list[float | None]]] = {}
    for row in read_jsonl_lenient(path):
        try:
            by_prompt = scores.setdefault(str(row["task"]), {})
            by_prompt.setdefault(str(row["prompt_id"]), []).append(1.0 if row["correct"] else 0.0)
        except (KeyError, TypeError):
            continue  # a line cut short by a crash: the score stage read the whole file
    return scores


def prompt_entropies(sweep_dir: Path, trial: Trial) -> dict[str, float] | None:
    """prompt id -> the mean next-token entropy along the trial's samples of it (the
    branching factor's per-prompt values); None when its samples carry no entropy sums."""
    from ablate.branching import entropy_by_prompt
    from ablate.records import Sample

    path = trial_root(sweep_dir, trial) / "generate" / "samples.jsonl"
    if not path.is_file():
        return None
    rows: list[Sample] = read_jsonl_lenient(path)  # type: ignore[assignment]
    return entropy_by_prompt(rows) if rows else None


def base_measurement(sweep_dir: Path) -> tuple[dict[str, Any], dict[str, float] | None] | None:
    """The base model's measurement (evaluation.measure_base): base.json's metrics and its
    per-prompt entropies; the newest when settings changed. None when there is none."""
    from ablate.branching import entropy_by_prompt
    from ablate.records import Sample

    found = sorted(layout.base_dir(sweep_dir).glob("*/base.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    metrics, _ = read_json_object(found[-1])
    if metrics is None:
        return None
    rows: list[Sample] = read_jsonl_lenient(found[-1].parent / "samples.jsonl")  # type: ignore[assignment]
    return metrics, entropy_by_prompt(rows) if rows else None


def trial_times(sweep_dir: Path, trial: Trial) -> tuple[float | None, float | None]:
    """When the trial's first done stage started and its last one finished (epoch seconds),
    from the done markers; (None, None) for markers from before they recorded the time."""
    ledger = TrialLedger(trial_root(sweep_dir, trial), trial.judge_name)
    starts, ends = [], []
    for stage in ("select", "train", "generate", "judge", "score"):
        marker = ledger.done_marker(stage) or {}
        finished, seconds = marker.get("finished_at"), marker.get("seconds") or 0.0
        if isinstance(finished, int | float) and isinstance(seconds, int | float):
            ends.append(float(finished))
            starts.append(float(finished) - float(seconds))
    return (min(starts), max(ends)) if starts else (None, None)


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not isinstance(value, bool):
        return "" if math.isnan(value) else f"{value:.{SIGNIFICANT_DIGITS}g}"
    return value


def overrides_text(overrides: dict[str, Any]) -> str:
    """An arm's settings in one cell: training.learning_rate=3e-05;training.epochs=5."""
    return ";".join(
        f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in overrides.items()
    )


# Metrics whose names depend on the sweep (its tasks, its dialogues' turns): columns after the
# fixed ones, sorted, present only when some trial has them.
VARIABLE_PREFIXES = ("task_", "dialogue_")


def task_columns(states: list[TrialState]) -> list[str]:
    """The objective tasks' and the dialogues' columns, after the fixed ones."""
    found = {k for s in states for k in (s.metrics or {}) if k.startswith(VARIABLE_PREFIXES)}
    return sorted(found)


def summary_rows(states: list[TrialState]) -> list[dict[str, Any]]:
    rows = []
    columns = COLUMNS + task_columns(states)
    for state in states:
        trial, metrics = state.trial, state.metrics or {}
        facts = {
            "trial_id": trial.trial_id,
            "arm": trial.arm,
            "pool": trial.pool,
            "n_examples": trial.n_examples,
            "seed": trial.seed,
            "folder": trial.folder,
            "status": state.label,
            "judge": trial.judge_name,
            # The realised examples per pool once selected, else the planned data.
            "data": metrics.get("data") or trial.pool,
            "overrides": overrides_text(trial.overrides),
        }
        rows.append({c: _cell(facts.get(c, metrics.get(c))) for c in columns})
    return rows


def write_summary(sweep_dir: Path, states: list[TrialState], name: str = SUMMARY) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS + task_columns(states), lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary_rows(states))
    path = sweep_dir / name
    atomic_write_text(path, buffer.getvalue())
    return path
