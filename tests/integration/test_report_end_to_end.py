"""The answer to an ablation, end to end on CPU: a quality sweep (2 arms x 2 sizes x 2 seeds,
LIMA's pools over synthetic dumps, the tiny model) writes its report and prints its verdicts;
MLflow holds the report, per-arm curves and the comparisons; `ablate report` on a partly
finished copy names the missing cells.

Real Ray, MLflow and training; the tiny model's judge scores are meaningless, so only the
report's structure and its numbers' consistency are checked, not the verdicts themselves."""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import clean_env
from tests.support.cli import run_ablate as ablate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SIZES = [16, 32]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("cache")
    return clean_env(ABLATE_CACHE=str(cache), PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Path, str]:
    """results/quality-cpu, finished, and the run's stdout."""
    folder = tmp_path_factory.mktemp("report")
    dumps = folder / "dumps"
    made = ablate("data", "synth-dumps", str(dumps), "--sites", "4", env=env)
    assert made.returncode == 0, made.stderr
    results = folder / "results"
    done = ablate(
        "run",
        str(REPO / "sweeps" / "quality.yaml"),
        f"experiment={REPO / 'experiments' / 'lima-cpu.yaml'}",
        f"pools.se_filtered.path={dumps / 'stackexchange'}",
        f"pools.se_unfiltered.path={dumps / 'stackexchange'}",
        f"pools.wikihow.path={dumps / 'wikihow.csv'}",
        "name=quality-cpu",
        f"sweep.sizes={SIZES}",
        "sweep.seeds=[0,1]",
        "evaluation.measure_base=true",
        "--results-dir",
        str(results),
        env=env,
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    return results / "quality-cpu", done.stdout


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_run_writes_the_report_and_prints_the_verdicts(swept: tuple[Path, str]) -> None:
    sweep_dir, stdout = swept
    report = sweep_dir / "report"
    for name in ("report.md", "comparisons.csv", "fits.csv", "cells.csv"):
        assert (report / name).is_file(), name
    for name in ("scaling_curve.png", "differences.png", "training_loss.png"):
        assert (report / name).read_bytes()[:8] == PNG, name
    assert "the answer so far" in stdout and "Report:" in stdout
    assert "filtered" in stdout and "unfiltered" in stdout

    comparisons = rows(report / "comparisons.csv")
    assert list(comparisons[0])[:9] == [
        "arm", "baseline", "n_examples", "diff", "low", "high", "n_prompts", "n_seeds", "method",
    ]  # fmt: skip
    assert {r["n_examples"] for r in comparisons} == {"16", "32", ""}  # each size, and pooled
    for row in comparisons:
        assert row["arm"] == "filtered" and row["baseline"] == "unfiltered"
        low, diff, high = float(row["low"]), float(row["diff"]), float(row["high"])
        assert math.isfinite(low) and low <= diff <= high and math.isfinite(high)
        assert row["n_seeds"] == "2"
    fits = rows(report / "fits.csv")
    assert list(fits[0])[:6] == ["arm", "metric", "slope", "low", "high", "verdict"]
    assert {(r["arm"], r["metric"]) for r in fits} >= {
        ("filtered", "judge_mean"), ("unfiltered", "judge_mean"),
    }  # fmt: skip
    for row in fits:
        if row["metric"] == "judge_mean":
            assert float(row["low"]) <= float(row["slope"]) <= float(row["high"])
            assert row["verdict"] in {"rising", "falling", "plateau", "inconclusive"}

    text = (report / "report.md").read_text()
    assert "unfiltered" in text and "filtered" in text
    assert "Holm" not in text or "two arms" in text  # 2 arms: no multiple-comparison correction


def test_mlflow_holds_the_report_and_one_curve_run_per_arm(swept: tuple[Path, str]) -> None:
    from mlflow import MlflowClient

    sweep_dir, _ = swept
    client = MlflowClient(f"sqlite:///{sweep_dir.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("quality-cpu")
    assert experiment is not None
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if r.data.tags.get("ablate.role") == "sweep"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.md", "report/scaling_curve.png", "report/differences.png"} <= artifacts

    arms = [r for r in runs if r.data.tags.get("ablate.role") == "arm"]
    assert {r.info.run_name for r in arms} == {"filtered", "unfiltered"}
    cells = {
        (r["arm"], int(r["n_examples"])): float(r["judge_mean"])
        for r in rows(sweep_dir / "report" / "cells.csv")
    }
    for run in arms:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        history = client.get_metric_history(run.info.run_id, "judge_mean")
        assert sorted(m.step for m in history) == SIZES
        for m in history:
            assert m.value == pytest.approx(cells[(run.info.run_name, m.step)], rel=1e-5)

    trial_runs = [r for r in runs if r.data.tags.get("ablate.role") == "trial"]
    assert len(trial_runs) == 8
    for run in trial_runs:  # the trial's real times, not the moment of the sync
        assert run.info.end_time - run.info.start_time > 1000


def test_report_on_a_partly_finished_sweep_names_the_missing_cells(
    swept: tuple[Path, str], tmp_path: Path, env: dict[str, str]
) -> None:
    sweep_dir, _ = swept
    copy = tmp_path / "quality-cpu"
    subprocess.run(["cp", "-a", str(sweep_dir), str(copy)], check=True)
    shutil.rmtree(copy / "trials" / "unfiltered-n32-s1")
    shutil.rmtree(copy / "report")
    reported = ablate("report", str(copy), env=env)
    assert reported.returncode == 0, reported.stderr
    assert "Traceback" not in reported.stderr
    text = (copy / "report" / "report.md").read_text()
    assert "missing" in text.lower()
    assert "unfiltered" in text and "32" in text and "seed 1" in text.replace("seed=1", "seed 1")
    assert (copy / "report" / "comparisons.csv").is_file()


def test_the_base_model_is_measured_once_and_read_against(swept: tuple[Path, str]) -> None:
    sweep_dir, _ = swept
    (base,) = list((sweep_dir / "base").glob("*/base.json"))
    assert (base.parent / "samples.jsonl").is_file()
    report = (sweep_dir / "report" / "report.md").read_text()
    assert "### Branching factor" in report and "Base model (evaluation.measure_base):" in report
    assert "Base / tuned (times fewer branches than the base model):" in report
    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    for row in rows:
        low, high = float(row["branching_factor_ci_low"]), float(row["branching_factor_ci_high"])
        assert low <= float(row["branching_factor"]) <= high
