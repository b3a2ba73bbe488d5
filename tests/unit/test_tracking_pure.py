"""The tracking module's pure parts: where MLflow writes, flat params, and the scaling curves.

No MLflow store is opened here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.tracking import CURVE_METRICS, TrialRecord, curve_points, flatten, tracking_uri


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


def _record(arm: str, n: int, seed: int, **metrics: float | None) -> TrialRecord:
    return TrialRecord(trial_id=f"{arm}{n}{seed}", folder=f"{arm}-n{n}-s{seed}", arm=arm,
                       n_examples=n, seed=seed, metrics=metrics, params={})  # type: ignore[arg-type]


def test_curve_points_average_over_seeds_per_size_per_arm() -> None:
    records = [
        _record("se", 100, 0, judge_mean=3.0, heldout_loss=2.0),
        _record("se", 100, 1, judge_mean=4.0, heldout_loss=1.0),
        _record("se", 200, 0, judge_mean=5.0, heldout_loss=0.5),
        _record("wiki", 100, 0, judge_mean=2.0, heldout_loss=3.0),
        _record("wiki", 100, 1, judge_mean=2.5, heldout_loss=None),
    ]
    curves = curve_points(records)
    assert curves["judge_mean.se"] == {100: pytest.approx(3.5), 200: pytest.approx(5.0)}
    assert curves["heldout_loss.se"] == {100: pytest.approx(1.5), 200: pytest.approx(0.5)}
    assert curves["judge_mean.wiki"] == {100: pytest.approx(2.25)}
    assert curves["heldout_loss.wiki"] == {100: pytest.approx(3.0)}  # a missing value is skipped
    assert set(curves) == {f"{m}.{arm}" for m in ("judge_mean", "heldout_loss")
                           for arm in ("se", "wiki")}


def test_curve_points_cover_the_interval_bounds_and_ignore_other_metrics() -> None:
    records = [_record("se", 50, 0, judge_mean=3.0, judge_ci_low=2.5, judge_ci_high=3.5,
                       train_loss=1.0)]
    curves = curve_points(records)
    assert set(curves) == {f"{m}.se" for m in CURVE_METRICS if m != "heldout_loss"}
    assert curves["judge_ci_low.se"] == {50: 2.5}


def test_curve_points_of_nothing() -> None:
    assert curve_points([]) == {}
