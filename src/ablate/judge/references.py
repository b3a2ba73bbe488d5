"""Reference responses for pairwise judging: parsing a baseline file, and an arm's samples as
references (the judge stage reads that arm's generations from its trial folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ablate.config.schema import JudgeConfig
from ablate.errors import UserError
from ablate.records import Judgment, Sample


def first_samples(rows: list[Sample]) -> dict[str, Sample]:
    """prompt id -> its lowest-numbered sample (an arm's responses as the reference another
    arm is compared with)."""
    found: dict[str, Sample] = {}
    for row in sorted(rows, key=lambda r: r["sample"]):
        found.setdefault(row["prompt_id"], row)
    return found


def first_sample_by_prompt(rows: list[Sample]) -> dict[str, str]:
    """prompt id -> the response of its lowest-numbered sample."""
    return {p: row["response"] for p, row in first_samples(rows).items()}


def token_counts(references: dict[str, str], tokenizer: Any) -> dict[str, int]:
    """prompt id -> the reference's tokens, counted as a generated response's are
    (Sample.n_tokens: the text's own tokens, no special ones)."""
    ids = list(references)
    if not ids:
        return {}
    encoded = tokenizer([references[p] for p in ids], add_special_tokens=False)["input_ids"]
    return {p: len(tokens) for p, tokens in zip(ids, encoded, strict=True)}


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


def references_from_file(path: Path, samples: list[Sample]) -> dict[str, str]:
    """prompt id -> the reference response of a judge.reference_file."""
    by_prompt = {s["prompt"]: s["prompt_id"] for s in samples}
    references: dict[str, str] = {}
    for row in read_reference_rows(path):
        prompt_id = row.get("prompt_id") or by_prompt.get(row.get("prompt", ""))
        if prompt_id is not None:
            references.setdefault(str(prompt_id), row["response"])
    return references


def unscored(sample: Sample, reason: str, cfg: JudgeConfig) -> Judgment:
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
