"""Reference responses for pairwise judging: another arm's generations or a baseline file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ablate.config.schema import JudgeConfig
from ablate.errors import UserError
from ablate.ledger import DONE, TrialLedger
from ablate.plan import Trial


def _first_sample_by_prompt(rows: list[dict[str, Any]]) -> dict[str, str]:
    references: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r.get("sample", 0)):
        references.setdefault(row["prompt_id"], row["response"])
    return references


def _from_arm(cfg: JudgeConfig, trial: Trial, trial_root: Path) -> dict[str, str]:
    folder = f"{cfg.reference_arm}-n{trial.n_examples}-s{trial.seed}"
    generate = TrialLedger(trial_root.parent / folder).stage_dir("generate")
    if not (generate / DONE).is_file():
        raise UserError(
            f"judge.reference_arm: arm '{cfg.reference_arm}' has no generations for "
            f"n={trial.n_examples}, seed={trial.seed} yet; run the sweep first, then compare "
            "with `ablate judge RESULTS/SWEEP judge.mode=pairwise ...`."
        )
    rows = [
        json.loads(line) for line in (generate / "samples.jsonl").read_text("utf-8").splitlines()
    ]
    return _first_sample_by_prompt(rows)


def read_reference_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a reference file (prompt_id or prompt, and response); a UserError naming the
    file and line for anything else, so `validate` catches it before any training."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read judge.reference_file ({exc}).") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ok = isinstance(row, dict) and isinstance(row.get("response"), str)
            ok = ok and isinstance(row.get("prompt_id") or row.get("prompt"), str | int)
        except json.JSONDecodeError:
            ok = False
        if not ok:
            raise UserError(
                f"{path}, line {number}: expected JSON with prompt_id (or prompt) "
                "and response (judge.reference_file)."
            )
        rows.append(row)
    return rows


def _from_file(path: Path, samples: list[dict[str, Any]]) -> dict[str, str]:
    by_prompt = {s["prompt"]: s["prompt_id"] for s in samples}
    references: dict[str, str] = {}
    for row in read_reference_rows(path):
        prompt_id = row.get("prompt_id") or by_prompt.get(row.get("prompt", ""))
        if prompt_id is not None:
            references.setdefault(str(prompt_id), row["response"])
    return references


def load_references(
    cfg: JudgeConfig, trial: Trial, trial_root: Path, samples: list[dict[str, Any]]
) -> dict[str, str] | None:
    """prompt_id -> the reference response; None unless the mode is pairwise."""
    if cfg.mode != "pairwise":
        return None
    if cfg.reference_arm:
        return _from_arm(cfg, trial, trial_root)
    return _from_file(Path(cfg.reference_file or ""), samples)


def unscored(sample: dict[str, Any], reason: str, cfg: JudgeConfig) -> dict[str, Any]:
    return {
        "prompt_id": sample["prompt_id"],
        "sample": sample["sample"],
        "score": None,
        "scored": False,
        "reason": reason,
        "verdict": None,
        "judge_backend": cfg.backend,
        "judge_model": cfg.model,
        "mode": cfg.mode,
        "calls": [],
    }
