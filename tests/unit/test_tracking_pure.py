"""The tracking module's pure parts: where MLflow writes, flat params, and what the analysis
becomes in MLflow (names, steps, which points are ready).

No MLflow store is opened here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ablate.analysis.contrasts import Contrast, VarianceParts
from ablate.analysis.sweep import Comparison, Design, Fit, Point, SweepAnalysis
from ablate.analysis.verdicts import Verdict
from ablate.tracking import (
    ARM_METRICS,
    TrialRecord,
    arm_curves,
    comparison_curves,
    complete_points,
    fit_curves,
    flatten,
    parent_curves,
    point_metrics,
    tracking_uri,
    trial_span,
    verdict_tags,
)


def test_tracking_uri_prefers_the_configured_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env-server:5000")
    assert tracking_uri("http://configured:5000", tmp_path) == "http://configured:5000"


def test_tracking_uri_then_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env-server:5000")
    assert tracking_uri(None, tmp_path) == "http://env-server:5000"


def test_tracking_uri_defaults_to_sqlite_under_the_results_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(None, tmp_path) == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"


def test_tracking_uri_default_is_absolute_for_a_relative_results_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = tracking_uri(None, Path("results/quick"))
    assert uri == f"sqlite:///{tmp_path.resolve()}/results/quick/mlflow.db"
    assert Path(uri.removeprefix("sqlite:///")).is_absolute()


def test_flatten_nested_dicts_with_dotted_keys() -> None:
    values: dict[str, Any] = {
        "name": "quantity",
        "training": {"epochs": 15, "lora": {"r": 16, "target_modules": ["all-linear"]}},
        "model": {"revision": None},
        "pools": {},
    }
    assert flatten(values) == {
        "name": "quantity",
        "training.epochs": "15",
        "training.lora.r": "16",
        "training.lora.target_modules": "['all-linear']",
        "model.revision": "None",
        "pools": "{}",
    }


def test_flatten_with_a_prefix() -> None:
    assert flatten({"a": {"b": 1}}, "cfg.") == {"cfg.a.b": "1"}


def _record(start: float | None, end: float | None) -> TrialRecord:
    return TrialRecord("t", "a-n1-s0", "a", 1, 0, {}, {}, start_time=start, end_time=end)


def test_trial_span_is_the_earliest_start_and_latest_end_known() -> None:
    records = [_record(10.0, 20.0), _record(5.0, None), _record(None, 30.0)]
    assert trial_span(records) == (5.0, 30.0)
    assert trial_span([_record(None, None)]) == (None, None)
    assert trial_span([]) == (None, None)


def _contrast(estimate: float, low: float, high: float) -> Contrast:
    """Only the estimate and bounds matter to tracking; the rest is filler."""
    parts = VarianceParts(cond=0.0, cond_df=1.0, cells=0.0, cells_df=1.0, noise=0.0)
    return Contrast(estimate, low, high, se=0.1, df=10.0, p_value=0.5, n_prompts=30, n_seeds=2,
                    seed_sd=None, seed_variance_measured=False, method="t", confidence=0.95,
                    prompt_var=0.0, seed_var=0.0, seed_df=0, parts=parts)


def _point(arm: str, n: int, seeds: tuple[int, ...], judge: float = 3.0) -> Point:
    return Point(arm, n, seeds, _contrast(judge, judge - 0.5, judge + 0.5),
                 _contrast(2.0, 1.9, 2.1), 2.0, 0.1)


def _analysis(points: list[Point], comparisons: Sequence[Comparison] = (),
              fits: Sequence[Fit] = ()) -> SweepAnalysis:
    design = Design(["a", "b"], [64, 128], [0, 1])
    return SweepAnalysis(design, points, list(comparisons), list(fits), [], [])


def test_only_points_with_every_planned_seed_are_ready() -> None:
    ready, partial = _point("a", 64, (0, 1)), _point("a", 128, (1,))
    assert complete_points(_analysis([ready, partial])) == [ready]


def test_point_metrics_fall_back_to_the_mean_loss_and_drop_what_is_missing() -> None:
    point = Point("a", 64, (0,), None, None, 2.5, None)
    assert point_metrics(point) == {"heldout_loss": 2.5}
    infinite = Point("a", 64, (0,), _contrast(3.0, float("-inf"), float("nan")), None, None, 0.0)
    assert point_metrics(infinite) == {"judge_mean": 3.0, "unscored_rate": 0.0}


def test_arm_and_parent_curves_are_keyed_by_size() -> None:
    points = [_point("a", 64, (0, 1), 3.0), _point("a", 128, (0, 1), 3.5)]
    arm = arm_curves(points)
    assert arm["judge_mean"] == {64: 3.0, 128: 3.5}
    assert arm["heldout_ci_high"] == {64: 2.1, 128: 2.1}
    assert set(arm) == set(ARM_METRICS)
    parent = parent_curves(points)
    assert set(parent) == {"judge_mean.a", "judge_ci_low.a", "judge_ci_high.a", "heldout_loss.a"}
    assert parent["judge_ci_low.a"] == {64: 2.5, 128: 3.0}


def _comparison(n: int | None, label: str) -> Comparison:
    return Comparison("a", "b", n, Verdict("difference", label, label, _contrast(0.3, 0.1, 0.5)))


def test_differences_need_both_cells_whole_and_the_pooled_one_is_at_trials_done() -> None:
    points = [_point("a", 64, (0, 1)), _point("b", 64, (0, 1)), _point("a", 128, (0, 1)),
              _point("b", 128, (0,))]
    rows = [_comparison(64, "a beats b"), _comparison(128, "a beats b"),
            _comparison(None, "no detectable difference")]
    analysis = _analysis(points, rows)
    curves = comparison_curves(analysis)
    assert curves["diff.a_vs_b"] == {64: 0.3}  # b at 128 lacks seed 1
    assert curves["diff_high.a_vs_b"] == {64: 0.5}
    assert curves["diff_pooled.a_vs_b"] == {7: 0.3}  # 7 trials done
    assert curves["diff_pooled_low.a_vs_b"] == {7: 0.1}
    tags = verdict_tags(analysis)
    assert tags["verdict.diff.a_vs_b"] == "no detectable difference"
    assert tags["verdict.diff.a_vs_b.n64"] == "a beats b"


def test_fits_are_slopes_and_exponents_with_their_verdicts() -> None:
    fits = [Fit("a", "judge_mean", 0.2, 0.1, 0.3, "rising", "", ""),
            Fit("a", "heldout_loss", 0.05, float("-inf"), float("inf"), "no interval", "", "")]
    analysis = _analysis([_point("a", 64, (0, 1))], fits=fits)
    assert fit_curves(analysis) == {"slope.a": {2: 0.2}, "slope_low.a": {2: 0.1},
                                    "slope_high.a": {2: 0.3}, "heldout_exponent.a": {2: 0.05}}
    assert verdict_tags(analysis) == {"verdict.slope.a": "rising",
                                      "verdict.heldout_exponent.a": "no interval"}
