"""A search end to end: Optuna inside real Ray Tune, real training, MLflow and the ledger.

A driver SIGKILLed mid-search and resumed ends with exactly the budget of distinct trials,
none trained twice, one MLflow child run each, and a sampler that was told the finished ones;
a proposal equal to a finished configuration is answered from the ledger, not trained."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import clean_env
from tests.support.cli import run_ablate as ablate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 600  # generous: a loaded 2-core machine starts Ray and trains slowly
SCORED = "trials/*/score/*/_done.json"


def write_sweep(
    folder: Path, name: str, search: str, sweep: str = "{sizes: [32], seeds: [0]}"
) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"""
name: {name}
experiment: {REPO / "experiments" / "tiny.yaml"}
pools:
  synthetic_b: {{source: synthetic, size: 2000, seed: 1}}
training: {{epochs: 2}}
generation: {{max_new_tokens: 8, samples_per_prompt: 1}}
evaluation: {{prompts: {{size: 4}}, bootstrap_resamples: 200}}
resources: {{max_retries: 0}}
sweep: {sweep}
search: {search}
""")
    return path


MIXTURE_SEARCH = """
  trials: 8
  max_concurrent: 2
  objective: heldout_loss
  space: {training.learning_rate: {low: 3.0e-4, high: 3.0e-3, log: true}}
  mixture: [synthetic, synthetic_b]
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("cache")
    return clean_env(ABLATE_CACHE=str(cache), PYTHONUNBUFFERED="1")


def plan(sweep_dir: Path) -> list[dict[str, Any]]:
    trials: list[dict[str, Any]] = json.loads((sweep_dir / "plan.json").read_text())["trials"]
    return trials


def study_trials(sweep_dir: Path, name: str) -> list[Any]:
    import optuna

    storage = f"sqlite:///{sweep_dir / 'search' / 'study.db'}"
    return list(optuna.load_study(study_name=name, storage=storage).trials)


def child_runs(results: Path, name: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    return [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def kill_after_scored(sweep: Path, results: Path, env: dict[str, str], count: int) -> None:
    command = [sys.executable, "-m", "ablate", "run", str(sweep), "--results-dir", str(results)]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        # No clock: the driver either scores `count` trials or ends (all 8 done, or failed)
        # before it, which fails the test with its output.
        def scored() -> int:
            return len(list((results / sweep.stem).glob(SCORED)))

        while scored() < count and driver.poll() is None:
            time.sleep(0.2)
        assert scored() >= count, driver.communicate()
    finally:
        driver.kill()  # SIGKILL: no handler runs, as when a node dies
        driver.communicate()


def test_a_killed_search_resumes_to_exactly_its_budget(tmp_path: Path, env: dict[str, str]) -> None:
    sweep = write_sweep(tmp_path, "mixsearch", MIXTURE_SEARCH)
    results = tmp_path / "results"
    sweep_dir = results / "mixsearch"
    kill_after_scored(sweep, results, env, 3)
    before = {p.parent.parent.parent.name: p.read_text() for p in sweep_dir.glob(SCORED)}
    assert len(before) >= 3
    trained = {p.parent.parent.name: p.read_text()
               for p in sweep_dir.glob("trials/*/train/_done.json")}  # fmt: skip

    resumed = ablate("resume", str(sweep_dir), env=env, timeout=WAIT_S * 2)
    assert resumed.returncode == 0, resumed.stderr
    assert f"search: {len(before)} of 8 configurations done (told to the sampler)" in resumed.stderr

    trials = plan(sweep_dir)
    assert len(trials) == 8 and len({t["folder"] for t in trials}) == 8
    assert len({t["trial_id"] for t in trials}) == 8
    assert all(t["search"]["role"] == "search" for t in trials)
    assert "8/8 trials done" in ablate("status", str(sweep_dir), env=env).stdout
    for folder, marker in trained.items():  # trained before the kill: not again
        assert (sweep_dir / "trials" / folder / "train" / "_done.json").read_text() == marker
    for log in sweep_dir.glob("trials/*/train/train_log.jsonl"):
        steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
        assert steps == list(range(1, len(steps) + 1)), f"{log}: a step trained twice"

    runs = child_runs(results, "mixsearch")
    assert sorted(r.info.run_name for r in runs) == sorted(t["folder"] for t in trials)

    # The sampler was told the finished configurations before it proposed again: they are the
    # study's first trials, with the ledger's values; the study holds the budget in all.
    study = study_trials(sweep_dir, "mixsearch")
    assert len(study) == 8 and all(t.state.name == "COMPLETE" for t in study)
    loss = {t["folder"]: json.loads((sweep_dir / "trials" / t["folder"] / "score" /
                                      t["judge_name"] / "metrics.json").read_text())
            ["heldout_loss"] for t in trials}  # fmt: skip
    params = {json.dumps(t["search"]["params"], sort_keys=True): t["folder"] for t in trials}
    first = study[: len(before)]
    assert {params[json.dumps(t.params, sort_keys=True)] for t in first} == set(before)
    assert all(t.value == pytest.approx(loss[params[json.dumps(t.params, sort_keys=True)]])
               for t in study)  # fmt: skip

    report = (sweep_dir / "report" / "report.md").read_text()
    best = min(loss, key=lambda f: loss[f]).rsplit("-n", 1)[0]
    assert f"| 1 | {best} |" in report  # the best configuration, with its interval
    assert "### Which settings mattered" in report and "Optuna's fANOVA" in report


def test_a_proposal_of_a_finished_configuration_is_not_trained_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Two configurations in the space, a budget of three: the third proposal can only be one
    of the first two, and it is answered from the ledger."""
    search = "{trials: 3, objective: heldout_loss, space: {training.epochs: [1, 2]}}"
    sweep = write_sweep(tmp_path, "smallspace", search,
                        "{sizes: [32], seeds: [0], arms: {base: {pool: synthetic}}}")  # fmt: skip
    results = tmp_path / "results"
    run = ablate("run", str(sweep), "--results-dir", str(results), env=env, timeout=WAIT_S * 2)
    assert run.returncode == 0, run.stderr
    assert "the space looks exhausted after 2 configurations" in run.stderr
    sweep_dir = results / "smallspace"
    assert len(plan(sweep_dir)) == 2
    assert len(list(sweep_dir.glob("trials/*/train/_done.json"))) == 2
    study = study_trials(sweep_dir, "smallspace")
    assert len(study) > 2  # the repeats were told the finished configurations' values
    values = {t.params["training.epochs"]: t.value for t in study[:2]}
    assert all(t.value == values[t.params["training.epochs"]] for t in study)

    # The space ran out at this budget: resuming has nothing to propose, so it starts no Ray.
    again = ablate("resume", str(sweep_dir), env=env, timeout=WAIT_S)
    assert again.returncode == 0, again.stderr
    assert "0 to propose" not in again.stderr and "starting Ray" not in again.stderr
    assert "2 trials (0 run now, 0 failed)" in again.stdout
