"""The score stage's pure parts: judge scores grouped by prompt, the judge metrics with unscored
responses counted, and the sample metrics."""

from __future__ import annotations

from typing import Any

import pytest

from ablate.stages.score import judge_metrics, sample_metrics, scores_by_prompt


def _judgment(prompt_id: str, score: float | None) -> dict[str, Any]:
    return {
        "prompt_id": prompt_id,
        "score": score,
        "scored": score is not None,
        "level_mass": 0.5 if score is not None else None,
    }


def test_scores_by_prompt_groups_in_order_and_maps_unscored_to_none() -> None:
    judgments = [
        _judgment("a", 4.0),
        _judgment("b", 2.0),
        _judgment("a", None),
        _judgment("b", 3.0),
        _judgment("c", None),
    ]
    judgments[2]["score"] = 1.0  # a score on an unscored row is ignored
    assert scores_by_prompt(judgments) == [[4.0, None], [2.0, 3.0], [None]]


def test_judge_metrics_counts_unscored() -> None:
    judgments = [
        _judgment("a", 4.0),
        _judgment("a", 5.0),
        _judgment("b", 2.0),
        _judgment("b", None),
        _judgment("c", 3.0),
        _judgment("c", None),
    ]
    m = judge_metrics(judgments, confidence=0.95, resamples=200, seed=0)
    assert m["judge_scored"] == 4
    assert m["judge_unscored"] == 2
    assert m["judge_unscored_rate"] == pytest.approx(2 / 6)
    assert m["judge_prompts"] == 3
    assert m["judge_mean"] == pytest.approx((4 + 5 + 2 + 3) / 4)
    assert m["judge_ci_low"] <= m["judge_mean"] <= m["judge_ci_high"]
    assert m["judge_level_mass"] == pytest.approx(0.5)


def test_judge_metrics_with_nothing_scored_gives_none_not_nan() -> None:
    m = judge_metrics([_judgment("a", None)], confidence=0.95, resamples=100, seed=0)
    assert m["judge_mean"] is None and m["judge_ci_low"] is None and m["judge_t_high"] is None
    assert (m["judge_scored"], m["judge_unscored"], m["judge_unscored_rate"]) == (0, 1, 1.0)
    assert m["judge_level_mass"] is None


def test_sample_metrics() -> None:
    samples = [{"n_tokens": 4, "stopped": True}, {"n_tokens": 8, "stopped": False}]
    assert sample_metrics(samples) == {
        "samples": 2,
        "response_tokens_mean": 6.0,
        "response_stopped_rate": 0.5,
    }
