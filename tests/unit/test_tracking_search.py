"""A search's answer on its MLflow parent run: each configuration's objective and the best so
far by the order proposed, the best with its bounds, importances, the predicted mixture and the
confirmation, written to a real SQLite store, idempotent on a second write."""

from __future__ import annotations

import math
from pathlib import Path

from mlflow import MlflowClient

from ablate.analysis.search import ConfigResult, ConfirmComparison, SearchAnswer
from ablate.analysis.search_fits import Estimate, MixtureFit
from ablate.analysis.search_importance import Importance
from ablate.tracking import SweepTracker, search_curves


def config(arm: str, order: int, rank: int, value: float) -> ConfigResult:
    return ConfigResult(rank, arm, "search", 64, order, (0,), Estimate(value, value - 0.1,
                        value + 0.1, "t"), {"mixture.a": 0.5})  # fmt: skip


def answer() -> SearchAnswer:
    ranked = (config("c2", 2, 1, 5.0), config("c3", 3, 2, 5.5), config("c1", 1, 3, 6.0))
    mixture = MixtureFit(("a", "b"), "Scheffé linear", (), 3, 0.9,
                         {"a": Estimate(0.2, 0.0, 0.6), "b": Estimate(0.8, 0.4, 1.0)},
                         Estimate(4.9, 4.5, 5.3), (), "")  # fmt: skip
    return SearchAnswer(
        "heldout_loss", "minimize", 0.95, ranked,
        (Importance("training.learning_rate", Estimate(0.7, 0.4, 0.9)),
         Importance("mixture.a", Estimate(0.3, math.nan, math.nan, "too few"))),
        "", mixture, "", (), (ConfirmComparison("c2", "c3", Estimate(-0.4, -0.7, -0.1),
                                                 0.01, None, "c2 beats c3"),), (),
    )  # fmt: skip


def test_search_curves_follow_the_proposal_order_and_the_direction() -> None:
    curves, tags = search_curves(answer())
    assert curves["search.objective"] == {1: 6.0, 2: 5.0, 3: 5.5}
    assert curves["search.best_so_far"] == {1: 6.0, 2: 5.0, 3: 5.0}  # minimised
    assert curves["search.best"] == {3: 5.0} and curves["search.best_low"] == {3: 4.9}
    assert curves["search.importance.training.learning_rate_high"] == {3: 0.9}
    assert "search.importance.mixture.a_low" not in curves  # no interval: no bound logged
    assert curves["search.mixture.best.b"] == {3: 0.8}
    assert curves["search.confirm.diff.c3_high"] == {3: -0.1}
    assert tags == {"search.best_arm": "c2", "search.confirm.verdict.c3": "c2 beats c3"}


def test_the_answer_lands_on_the_parent_run_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = SweepTracker(uri, "search", tmp_path / "artifacts")
    parent = tracker.parent_run_id("key", {}, None)
    first = tracker.log_search(parent, answer())
    assert first > 0 and tracker.log_search(parent, answer()) == 0
    run = MlflowClient(uri).get_run(parent)
    assert run.data.metrics["search.best"] == 5.0
    assert run.data.tags["search.best_arm"] == "c2"
