"""The sweep's analysis in a real SQLite MLflow store: one run per arm under the parent (so
MLflow's chart of a metric overlays the arms), the parent's curves, differences, slopes and
verdicts, the report as artifacts, and the runs' real times. Every write idempotent."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from ablate.analysis.sweep import Design, SweepAnalysis, TrialData, analyze_sweep
from ablate.tracking import (
    ARM_TAG,
    KIND,
    KIND_TAG,
    PARENT_TAG,
    ROLE_TAG,
    SweepTracker,
    TrialRecord,
    trial_span,
)

ARMS, SIZES, SEEDS = ("lima", "dolly"), (64, 128, 256), (0, 1)
SHIFT = {"lima": 0.5, "dolly": 0.0}
PROMPTS = [f"p{i}" for i in range(30)]
ARM_PARAMS = {"lima": {"pool": "lima", "filter": "quality"}, "dolly": {"pool": "dolly"}}
Cell = tuple[str, int, int]
ALL: list[Cell] = [(a, n, s) for a in ARMS for n in SIZES for s in SEEDS]


def _trial(arm: str, n: int, seed: int) -> TrialData:
    """Judge scores and per-prompt held-out losses, the same for the same cell every time."""
    rng = random.Random(f"{arm}-{n}-{seed}")
    scores: dict[str, list[float | None]] = {
        p: [min(6.0, max(1.0, 3 + SHIFT[arm] + rng.gauss(0, 1)))] for p in PROMPTS
    }
    scores["p0"] = [None]  # an unscored response: unscored_rate > 0
    held = {p: (rng.uniform(40, 60) * n**-0.1, 10) for p in PROMPTS}
    loss = sum(s for s, _ in held.values()) / sum(t for _, t in held.values())
    return TrialData(arm, n, seed, scores, loss, held)


def _analysis(done: Iterable[Cell] = ALL) -> SweepAnalysis:
    return analyze_sweep([_trial(*c) for c in done], Design(ARMS, SIZES, SEEDS))


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated store made once: a copy per test opens in a fraction of the time."""
    folder = tmp_path_factory.mktemp("template")
    SweepTracker(f"sqlite:///{folder / 'mlflow.db'}", "template", folder / "art")
    return folder / "mlflow.db"


@pytest.fixture
def tracker(tmp_path: Path, template_db: Path) -> SweepTracker:
    shutil.copy(template_db, tmp_path / "mlflow.db")
    return SweepTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "sweep", tmp_path / "art")


def _history(tracker: SweepTracker, run_id: str, key: str) -> dict[int, float]:
    return {m.step: m.value for m in tracker.client.get_metric_history(run_id, key)}


def _arm_runs(tracker: SweepTracker, parent: str) -> dict[str, Any]:
    runs = tracker._find(f"tags.`{PARENT_TAG}` = '{parent}' AND tags.`{ROLE_TAG}` = 'arm'")
    return {r.data.tags[ARM_TAG]: r for r in runs}


def _all_runs(tracker: SweepTracker) -> list[Any]:
    return tracker._find("")


def test_each_arm_is_a_run_under_the_parent_with_the_seed_aware_points(
    tracker: SweepTracker,
) -> None:
    parent = tracker.parent_run_id("plan", {})
    analysis = _analysis()
    tracker.log_analysis(parent, analysis, ARM_PARAMS)
    runs = _arm_runs(tracker, parent)
    assert set(runs) == set(ARMS)
    for arm, run in runs.items():
        assert run.info.run_name == arm
        assert run.data.tags["ablate.sweep"] == "sweep"
        assert run.data.params == {"arm": arm} | ARM_PARAMS[arm]
        assert run.info.status == "FINISHED"
        points = [p for p in analysis.points if p.arm == arm]
        judge = _history(tracker, run.info.run_id, "judge_mean")
        assert judge == pytest.approx({p.n_examples: p.judge.estimate for p in points if p.judge})
        low = _history(tracker, run.info.run_id, "judge_ci_low")
        assert low == pytest.approx({p.n_examples: p.judge.low for p in points if p.judge})
        high = _history(tracker, run.info.run_id, "heldout_ci_high")
        assert high == pytest.approx({p.n_examples: p.heldout.high for p in points if p.heldout})
        unscored = _history(tracker, run.info.run_id, "unscored_rate")
        assert unscored == pytest.approx({n: 1 / len(PROMPTS) for n in SIZES})


def test_the_parent_curves_are_the_seed_aware_points(tracker: SweepTracker) -> None:
    parent = tracker.parent_run_id("plan", {})
    analysis = _analysis()
    tracker.log_analysis(parent, analysis, ARM_PARAMS)
    for p in analysis.points:
        assert p.judge is not None and p.heldout is not None
        high = _history(tracker, parent, f"judge_ci_high.{p.arm}")[p.n_examples]
        assert high == pytest.approx(p.judge.high)
        loss = _history(tracker, parent, f"heldout_loss.{p.arm}")[p.n_examples]
        assert loss == pytest.approx(p.heldout.estimate)


def test_logging_the_analysis_again_adds_nothing(tracker: SweepTracker) -> None:
    parent = tracker.parent_run_id("plan", {})
    analysis = _analysis()
    first = tracker.log_analysis(parent, analysis, ARM_PARAMS)
    runs_before = {r.info.run_id for r in _all_runs(tracker)}
    assert first > 0
    assert tracker.log_analysis(parent, analysis, ARM_PARAMS) == 0
    assert {r.info.run_id for r in _all_runs(tracker)} == runs_before
    arm_run = _arm_runs(tracker, parent)["lima"].info.run_id
    assert len(tracker.client.get_metric_history(arm_run, "judge_mean")) == len(SIZES)


def test_a_point_waits_for_all_its_seeds(tracker: SweepTracker) -> None:
    parent = tracker.parent_run_id("plan", {})
    partial = [c for c in ALL if c != ("lima", 128, 1)]
    tracker.log_analysis(parent, _analysis(partial), ARM_PARAMS)
    lima = _arm_runs(tracker, parent)["lima"]
    assert set(_history(tracker, lima.info.run_id, "judge_mean")) == {64, 256}
    assert set(_history(tracker, parent, "judge_mean.lima")) == {64, 256}
    assert set(_history(tracker, parent, "diff.lima_vs_dolly")) == {64, 256}
    assert lima.info.status == "FAILED"  # a planned trial of the arm is not done

    full = _analysis()
    tracker.log_analysis(parent, full, ARM_PARAMS)
    lima = _arm_runs(tracker, parent)["lima"]
    judge = _history(tracker, lima.info.run_id, "judge_mean")
    assert set(judge) == set(SIZES)
    point = full.point("lima", 128)
    assert point is not None and point.judge is not None
    assert judge[128] == pytest.approx(point.judge.estimate)
    assert len(tracker.client.get_metric_history(lima.info.run_id, "judge_mean")) == 3
    assert set(_history(tracker, parent, "diff.lima_vs_dolly")) == set(SIZES)
    assert lima.info.status == "FINISHED"


def test_the_parent_has_differences_slopes_and_verdicts(tracker: SweepTracker) -> None:
    parent = tracker.parent_run_id("plan", {})
    analysis = _analysis()
    tracker.log_analysis(parent, analysis, ARM_PARAMS)
    done = len(ALL)
    at_128 = next(c for c in analysis.comparisons if c.n_examples == 128)
    assert _history(tracker, parent, "diff_low.lima_vs_dolly")[128] == pytest.approx(
        at_128.contrast.low
    )
    pooled = next(c for c in analysis.comparisons if c.n_examples is None)
    assert _history(tracker, parent, "diff_pooled.lima_vs_dolly") == pytest.approx(
        {done: pooled.contrast.estimate}
    )
    tags = tracker.client.get_run(parent).data.tags
    assert tags["verdict.diff.lima_vs_dolly"] == pooled.verdict.label
    assert tags["verdict.diff.lima_vs_dolly.n128"] == at_128.verdict.label
    for fit in analysis.fits:
        name = "slope" if fit.metric == "judge_mean" else "heldout_exponent"
        assert _history(tracker, parent, f"{name}.{fit.arm}") == pytest.approx({done: fit.slope})
        assert _history(tracker, parent, f"{name}_high.{fit.arm}") == pytest.approx(
            {done: fit.high}
        )
        assert tags[f"verdict.{name}.{fit.arm}"] == fit.verdict


def _record(arm: str, n: int, seed: int, start: float) -> TrialRecord:
    return TrialRecord(
        f"{arm}{n}{seed}",
        f"{arm}-n{n}-s{seed}",
        arm,
        n,
        seed,
        {"judge_mean": 3.0},
        {},
        start_time=start,
        end_time=start + 90.5,
    )


def test_runs_span_the_trials_real_times(tracker: SweepTracker) -> None:
    records = [
        _record("lima", 64, 0, 1_700_000_000.0),
        _record("lima", 64, 1, 1_700_000_100.0),
        _record("dolly", 64, 0, 1_700_000_050.0),
    ]
    start, end = trial_span(records)
    assert (start, end) == (1_700_000_000.0, 1_700_000_190.5)
    parent = tracker.parent_run_id("plan", {}, start_time=start)
    for r in records:
        tracker.record_trial(parent, r)
    tracker.log_analysis(parent, _analysis(), ARM_PARAMS)
    tracker.finish_parent(parent, [], failed=False)
    children = tracker._find(f"tags.`{ROLE_TAG}` = 'trial'")
    times = {r.info.run_name: (r.info.start_time, r.info.end_time) for r in children}
    assert times["lima-n64-s1"] == (1_700_000_100_000, 1_700_000_190_500)
    info = tracker.client.get_run(parent).info
    assert (info.start_time, info.end_time) == (1_700_000_000_000, 1_700_000_190_500)
    lima = _arm_runs(tracker, parent)["lima"].info
    assert (lima.start_time, lima.end_time) == (1_700_000_000_000, 1_700_000_190_500)
    dolly = _arm_runs(tracker, parent)["dolly"].info
    assert (dolly.start_time, dolly.end_time) == (1_700_000_050_000, 1_700_000_140_500)
    tracker.finish_parent(parent, [], failed=True, end_time=1_700_000_200.0)
    info = tracker.client.get_run(parent).info
    assert (info.status, info.end_time) == ("FAILED", 1_700_000_200_000)


def test_the_report_is_in_the_parents_artifacts(tracker: SweepTracker, tmp_path: Path) -> None:
    parent = tracker.parent_run_id("plan", {})
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("# first\n")
    (report / "points.csv").write_text("arm,n\n")
    (report / "judge_mean.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    tracker.log_report(parent, report)
    listed = {f.path for f in tracker.client.list_artifacts(parent, "report")}
    assert listed == {"report/report.md", "report/points.csv", "report/judge_mean.png"}
    (report / "report.md").write_text("# second\n")
    tracker.log_report(parent, report)
    copy = tracker.client.download_artifacts(parent, "report/report.md", str(tmp_path))
    assert Path(copy).read_text() == "# second\n"
    with pytest.raises(FileNotFoundError):
        tracker.log_report(parent, tmp_path / "no-report")


def test_the_experiment_opens_on_the_runs_view(tmp_path: Path, template_db: Path) -> None:
    from mlflow import MlflowClient

    shutil.copy(template_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = SweepTracker(uri, "new", tmp_path / "art")
    assert tracker.client.get_experiment(tracker.experiment_id).tags[KIND_TAG] == KIND
    client = MlflowClient(uri)
    older = client.create_experiment("older")  # made before ablate set the kind
    chosen = client.create_experiment("chosen", tags={KIND_TAG: "genai_development"})
    SweepTracker(uri, "older", tmp_path / "art")
    SweepTracker(uri, "chosen", tmp_path / "art")
    assert client.get_experiment(older).tags[KIND_TAG] == KIND
    assert client.get_experiment(chosen).tags[KIND_TAG] == "genai_development"  # left alone
