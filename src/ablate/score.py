"""A trial's metrics: judge score with intervals, held-out loss, training and sampling facts."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ablate.stats import summarize_scores


def scores_by_prompt(judgments: list[dict[str, Any]]) -> list[list[float | None]]:
    grouped: dict[str, list[float | None]] = defaultdict(list)
    for j in judgments:
        grouped[j["prompt_id"]].append(j["score"] if j["scored"] else None)
    return list(grouped.values())


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def judge_metrics(
    judgments: list[dict[str, Any]], confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
    summary = summarize_scores(scores_by_prompt(judgments), confidence, resamples, seed)
    masses = [j["level_mass"] for j in judgments if j.get("level_mass") is not None]
    return {
        "judge_mean": _finite(summary.mean.estimate),
        "judge_ci_low": _finite(summary.mean.low),
        "judge_ci_high": _finite(summary.mean.high),
        "judge_t_low": _finite(summary.t_interval.low),
        "judge_t_high": _finite(summary.t_interval.high),
        "judge_prompts": summary.n_prompts,
        "judge_scored": summary.n_scored,
        "judge_unscored": summary.n_unscored,
        "judge_unscored_rate": summary.n_unscored / max(1, len(judgments)),
        "judge_level_mass": sum(masses) / len(masses) if masses else None,
    }


def sample_metrics(samples: list[dict[str, Any]]) -> dict[str, Any]:
    n = max(1, len(samples))
    return {
        "samples": len(samples),
        "response_tokens_mean": sum(s["n_tokens"] for s in samples) / n,
        "response_stopped_rate": sum(bool(s["stopped"]) for s in samples) / n,
    }
