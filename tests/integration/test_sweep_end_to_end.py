"""A small sweep through the real CLI, a real Ray runtime, real training and a real MLflow
SQLite store; then a re-run (nothing redone) and a failure followed by `ablate resume`.

The failure is real, not injected: the judge points at a model folder that has a config but
no weights, so the judge stage fails after training; writing the model there and resuming
must re-run only judging and scoring.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from ablate.models.tiny import save_tiny
from tests.support.cli import clean_env
from tests.support.cli import run_ablate as ablate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SIZES = [8, 16]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("cache")
    return clean_env(ABLATE_CACHE=str(cache), PYTHONUNBUFFERED="1")


def write_sweep(folder: Path, name: str, judge_model: str) -> Path:
    pool = folder / "pool.jsonl"
    from ablate.data.fixtures.synthetic import synthetic_records

    pool.write_text("".join(json.dumps(r) + "\n" for r in synthetic_records(40, seed=3)))
    sweep = folder / f"{name}.yaml"
    sweep.write_text(f"""
name: {name}
experiment: {REPO / "experiments" / "tiny.yaml"}
pools:
  from_file: {{source: jsonl, path: pool.jsonl}}
judge: {{model: {judge_model}}}
training: {{epochs: 1, batch_size: 4, micro_batch_size: 4}}
generation: {{max_new_tokens: 8, samples_per_prompt: 2}}
evaluation: {{prompts: {{size: 4}}, bootstrap_resamples: 200}}
resources: {{max_retries: 0}}
sweep:
  arms:
    synthetic: {{pool: synthetic}}
    from_file: {{pool: from_file}}
  sizes: {SIZES}
  seeds: [0]
""")
    return sweep


def mlflow_runs(results: Path, experiment: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment}"
    return client.search_runs([exp.experiment_id])


def done_times(sweep_dir: Path, stage: str) -> dict[str, float]:
    """trial folder (and judge name, for judged stages) -> when the stage was marked done."""
    judged = stage in ("judge", "score")
    pattern = f"trials/*/{stage}/*/_done.json" if judged else f"trials/*/{stage}/_done.json"
    return {
        str(p.parent.relative_to(sweep_dir / "trials")): p.stat().st_mtime_ns
        for p in sweep_dir.glob(pattern)
    }


def test_sweep_runs_tracks_and_reruns_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    sweep = write_sweep(tmp_path, "mini", "builtin:tiny")
    results = tmp_path / "results"
    first = ablate("run", str(sweep), "--results-dir", str(results), env=env)
    assert first.returncode == 0, first.stderr
    sweep_dir = results / "mini"
    assert str(sweep_dir) in first.stdout

    rows = list(csv.DictReader((sweep_dir / "summary.csv").open()))
    assert sorted((r["arm"], int(r["n_examples"])) for r in rows) == sorted(
        (arm, n) for arm in ("synthetic", "from_file") for n in SIZES
    )
    for row in rows:
        assert row["status"] == "done"
        assert (
            1
            <= float(row["judge_ci_low"])
            <= float(row["judge_mean"])
            <= float(row["judge_ci_high"])
            <= 6
        )
        assert float(row["heldout_loss"]) > 0
    for trial in sweep_dir.glob("trials/*"):
        assert list((trial / "train" / "model").glob("*.safetensors")), trial
        assert (trial / "train" / "train_log.jsonl").read_text().strip()
        assert len((trial / "generate" / "samples.jsonl").read_text().splitlines()) == 4 * 2

    runs = mlflow_runs(results, "mini")
    parents = [r for r in runs if r.data.tags.get("ablate.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("ablate.role") == "trial"]
    arm_runs = [r for r in runs if r.data.tags.get("ablate.role") == "arm"]
    assert len(parents) == 1 and len(children) == 4
    assert sorted(r.data.tags["ablate.arm"] for r in arm_runs) == ["from_file", "synthetic"]
    assert len(runs) == 1 + 4 + 2, "one parent, one run per trial, one per arm: nothing else"
    assert {
        (r.data.params["arm"], r.data.params["n_examples"], r.data.params["seed"]) for r in children
    } == {(a, str(n), "0") for a in ("synthetic", "from_file") for n in SIZES}
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    for arm in ("synthetic", "from_file"):
        history = client.get_metric_history(parents[0].info.run_id, f"judge_mean.{arm}")
        assert sorted(m.step for m in history) == SIZES
        expected = {int(r["n_examples"]): float(r["judge_mean"]) for r in rows if r["arm"] == arm}
        # summary.csv keeps 6 significant digits
        assert {m.step: m.value for m in history} == pytest.approx(expected, rel=1e-5)

    before = done_times(sweep_dir, "train") | done_times(sweep_dir, "judge")
    again = ablate("run", str(sweep), "--results-dir", str(results), env=env)
    assert again.returncode == 0, again.stderr
    assert "0 run now" in again.stdout
    assert done_times(sweep_dir, "train") | done_times(sweep_dir, "judge") == before
    assert {r.info.run_id for r in mlflow_runs(results, "mini")} == {r.info.run_id for r in runs}
    history = client.get_metric_history(parents[0].info.run_id, "judge_mean.synthetic")
    assert len(history) == len(SIZES), "a re-run must not log curve points twice"


def test_failed_judge_then_resume_redoes_only_judging(tmp_path: Path, env: dict[str, str]) -> None:
    judge_dir = tmp_path / "judge-model"
    judge_dir.mkdir()
    tiny = save_tiny(tmp_path / "tiny-copy")
    shutil.copy(tiny / "config.json", judge_dir / "config.json")  # a config, but no weights
    sweep = write_sweep(tmp_path, "broken", str(judge_dir))
    results = tmp_path / "results"

    failed = ablate("run", str(sweep), "--results-dir", str(results), env=env)
    assert failed.returncode == 1, failed.stderr
    sweep_dir = results / "broken"
    assert "ablate resume" in failed.stderr
    status = ablate("status", str(sweep_dir), env=env)
    assert status.stdout.count("failed at judge") == 4, status.stdout
    trained = done_times(sweep_dir, "train")
    generated = done_times(sweep_dir, "generate")
    assert len(trained) == 4 and not done_times(sweep_dir, "judge")

    save_tiny(judge_dir)  # the fix: the judge's weights arrive
    resumed = ablate("resume", str(sweep_dir), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert done_times(sweep_dir, "train") == trained
    assert done_times(sweep_dir, "generate") == generated
    assert len(done_times(sweep_dir, "judge")) == 4
    status = ablate("status", str(sweep_dir), env=env)
    assert "4/4 trials done" in status.stdout
    runs = mlflow_runs(results, "broken")
    assert len([r for r in runs if r.data.tags.get("ablate.role") == "trial"]) == 4


def test_unreachable_hub_model_stops_before_any_trial(tmp_path: Path, env: dict[str, str]) -> None:
    # No hub is reachable here; where one is, the id does not exist: exit 2 either way.
    results = tmp_path / "results"
    done = ablate(
        "run",
        str(REPO / "sweeps" / "quickstart.yaml"),
        "model.name_or_path=ablate-test/no-such-model-7b",
        "--results-dir",
        str(results),
        env=env | {"HF_HUB_CACHE": str(tmp_path / "hf")},
    )
    assert done.returncode == 2
    assert "ablate-test/no-such-model-7b" in done.stderr
    assert "Traceback" not in done.stderr
    assert not results.exists()


def test_changing_only_the_judge_rejudges_and_tracks_a_new_plan(
    tmp_path: Path, env: dict[str, str]
) -> None:
    sweep = write_sweep(tmp_path, "rejudge", "builtin:tiny")
    results = tmp_path / "results"
    assert ablate("run", str(sweep), "--results-dir", str(results), env=env).returncode == 0
    sweep_dir = results / "rejudge"
    trained, judged = done_times(sweep_dir, "train"), done_times(sweep_dir, "judge")

    changed = ablate(
        "run", str(sweep), "judge.max_input_tokens=1000", "--results-dir", str(results), env=env
    )
    assert changed.returncode == 0, changed.stderr
    assert done_times(sweep_dir, "train") == trained, "a judge change must not retrain"
    after = done_times(sweep_dir, "judge")
    assert all(after[k] == v for k, v in judged.items()), "the first judge's results are kept"
    assert len(after) == 2 * len(judged), "the new judge's results sit beside them"
    runs = mlflow_runs(results, "rejudge")
    parents = [r for r in runs if r.data.tags.get("ablate.role") == "sweep"]
    assert len(parents) == 2, "each plan of the sweep has its own parent run and curves"


def test_a_config_error_inside_a_worker_is_recorded_and_not_retried(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Prompts longer than training.max_seq_length leave no response token to learn: the worker
    finds it (only the tokenizer can), records it, and Ray does not retry it (a retry would
    fail the same way after paying for the same work)."""
    pool = tmp_path / "long.jsonl"
    records = [{"prompt": "word " * 200, "response": "short answer"} for _ in range(12)]
    pool.write_text("".join(json.dumps(r) + "\n" for r in records))
    sweep = tmp_path / "long.yaml"
    sweep.write_text(f"""
name: long
experiment: {REPO / "experiments" / "tiny.yaml"}
pools:
  long: {{source: jsonl, path: long.jsonl}}
training: {{epochs: 1, batch_size: 4, micro_batch_size: 4, max_seq_length: 16}}
resources: {{max_retries: 2}}
sweep:
  arms: {{long: {{pool: long}}}}
  sizes: [8]
  seeds: [0]
""")
    results = tmp_path / "results"
    done = ablate("run", str(sweep), "--results-dir", str(results), env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "retrying" not in done.stderr, "a deterministic failure is not retried"
    assert "FAILED" in done.stderr and "max_seq_length" in done.stderr
    status = ablate("status", str(results / "long"), env=env)
    assert "failed at train: training.max_seq_length: 16 tokens" in status.stdout, status.stdout


def test_arms_that_vary_a_setting_and_mix_two_pools(tmp_path: Path, env: dict[str, str]) -> None:
    """One arm overrides the learning rate, one draws from two pools in a 1:3 mixture: both
    train and score; the realised counts are in the trial folder and in summary.csv."""
    pool = tmp_path / "pool.jsonl"
    from ablate.data.fixtures.synthetic import synthetic_records

    pool.write_text("".join(json.dumps(r) + "\n" for r in synthetic_records(40, seed=3)))
    sweep = tmp_path / "arms.yaml"
    sweep.write_text(f"""
name: arms
experiment: {REPO / "experiments" / "tiny.yaml"}
pools:
  from_file: {{source: jsonl, path: pool.jsonl}}
training: {{epochs: 1, batch_size: 4, micro_batch_size: 4}}
generation: {{max_new_tokens: 8, samples_per_prompt: 2}}
evaluation: {{prompts: {{size: 4}}, bootstrap_resamples: 200}}
resources: {{max_retries: 0}}
sweep:
  arms:
    plain: {{pool: synthetic}}
    fast: {{pool: synthetic, overrides: {{training.learning_rate: 3.0e-3}}}}
    mixed: {{data: {{mixture: {{synthetic: 1, from_file: 3}}}}}}
  sizes: [8]
  seeds: [0]
""")
    results = tmp_path / "results"
    done = ablate("run", str(sweep), "--results-dir", str(results), env=env)
    assert done.returncode == 0, done.stderr
    rows = {r["arm"]: r for r in csv.DictReader((results / "arms" / "summary.csv").open())}
    assert set(rows) == {"plain", "fast", "mixed"} and all(
        r["status"] == "done" for r in rows.values()
    )
    assert len({r["trial_id"] for r in rows.values()}) == 3
    assert rows["fast"]["overrides"] == "training.learning_rate=0.003"
    assert rows["mixed"]["data"] == "from_file:6;synthetic:2"
    recorded = json.loads(
        (results / "arms" / "trials" / "mixed-n8-s0" / "select" / "data.json").read_text()
    )
    assert recorded["counts"] == {"from_file": 6, "synthetic": 2}
    examples = (
        results / "arms" / "trials" / "mixed-n8-s0" / "select" / "examples.jsonl"
    ).read_text()
    assert (
        sorted(json.loads(line)["pool"] for line in examples.splitlines())
        == ["from_file"] * 6 + ["synthetic"] * 2
    )
    logged = json.loads(
        (results / "arms" / "trials" / "fast-n8-s0" / "train" / "train_log.jsonl")
        .read_text()
        .splitlines()[0]
    )
    assert logged["learning_rate"] == pytest.approx(3.0e-3)


def test_each_trial_reaches_mlflow_while_the_sweep_still_runs(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """One trial at a time, the second long enough to train for a while: the first trial's
    MLflow run must appear before the second is done, not in a sync after the last trial."""
    import subprocess
    import sys
    import time

    sweep = tmp_path / "live.yaml"
    sweep.write_text(f"""
name: live
experiment: {REPO / "experiments" / "tiny.yaml"}
training: {{epochs: 12, batch_size: 4, micro_batch_size: 4}}
generation: {{max_new_tokens: 8, samples_per_prompt: 2}}
evaluation: {{prompts: {{size: 4}}, bootstrap_resamples: 200}}
resources: {{max_retries: 0, max_concurrent_trials: 1}}
sweep:
  arms: {{synthetic: {{pool: synthetic}}}}
  sizes: [8, 96]
  seeds: [0]
""")
    results = tmp_path / "results"
    sweep_dir = results / "live"
    command = [sys.executable, "-m", "ablate", "run", str(sweep), "--results-dir", str(results)]
    driver = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: list[tuple[str, int]] = []  # (trial seen in MLflow, trials scored at that moment)
    try:
        while driver.poll() is None and not seen:
            time.sleep(0.5)
            scored = len(list(sweep_dir.glob("trials/*/score/*/_done.json")))
            # The driver makes the store before the first trial; a client opened while it is
            # still being made would race its schema migrations ("duplicate column").
            if scored == 0:
                continue
            from mlflow import MlflowClient

            client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
            exp = client.get_experiment_by_name("live")
            assert exp is not None, "a trial is done but the sweep has no MLflow experiment"
            runs = client.search_runs([exp.experiment_id], "tags.`ablate.role` = 'trial'")
            seen += [(r.data.tags["mlflow.runName"], scored) for r in runs]
    finally:
        _, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, err
    assert seen, "no trial run appeared in MLflow while the sweep ran"
    assert seen[0][1] < 2, f"the first trial run appeared only after both were done: {seen}"
    runs = mlflow_runs(results, "live")
    assert len([r for r in runs if r.data.tags.get("ablate.role") == "trial"]) == 2
