"""Damage every kind of ledger file in a finished sweep: `status` and `resume` never crash,
resume says what it found once and redoes exactly the damaged stages; a copied sweep folder
resumes where it is, under its own name, without touching the original.

Real Ray, MLflow and training on the tiny model; one finished sweep is built once and copied
for each scenario (`cp -a`, as a user would)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import clean_env
from tests.support.cli import run_ablate as ablate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
NAME = "ledger"
STAGES = ("select", "train", "generate", "judge", "score")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("cache")
    return clean_env(ABLATE_CACHE=str(cache), PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """results/ledger: 8 done trials (one arm, sizes 8-32, seeds 0 and 1)."""
    folder = tmp_path_factory.mktemp("finished")
    sweep = folder / "sweep.yaml"
    sweep.write_text(f"""
name: {NAME}
experiment: {REPO / "experiments" / "tiny.yaml"}
training: {{epochs: 1, batch_size: 4, micro_batch_size: 4}}
generation: {{max_new_tokens: 8, samples_per_prompt: 2}}
evaluation: {{prompts: {{size: 4}}, bootstrap_resamples: 200}}
resources: {{max_retries: 0}}
sweep:
  arms: {{synthetic: {{pool: synthetic}}}}
  sizes: [8, 16, 24, 32]
  seeds: [0, 1]
""")
    results = folder / "results"
    done = ablate("run", str(sweep), "--results-dir", str(results), env=env)
    assert done.returncode == 0, done.stderr
    return results


def copy_of(finished: Path, tmp_path: Path, name: str = NAME) -> Path:
    target = tmp_path / "results"
    target.mkdir()
    subprocess.run(["cp", "-a", str(finished / NAME), str(target / name)], check=True)
    return target / name


def markers(sweep_dir: Path) -> dict[tuple[str, str], str]:
    """(trial folder, stage) -> its done marker's text (a redone stage has a new one)."""
    found = {}
    for marker in sweep_dir.glob("trials/*/**/_done.json"):
        relative = marker.parent.relative_to(sweep_dir / "trials")
        found[(relative.parts[0], relative.parts[1])] = marker.read_text()
    return found


def trial_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((sweep_dir / "trials").iterdir())


def judged(trial: Path, stage: str) -> Path:
    return next((trial / stage).iterdir())  # stage/<judge name>/


def cut(path: Path) -> None:
    """Truncate a file in the middle, as a full disk or a crash would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def assert_no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr


def test_damaged_stage_files_are_redone_and_nothing_else(
    finished: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    sweep_dir = copy_of(finished, tmp_path)
    trials = trial_dirs(sweep_dir)
    before = markers(sweep_dir)
    cut(trials[0] / "train" / "_done.json")
    (trials[1] / "generate" / "_done.json").write_text("")
    (judged(trials[2], "score") / "_done.json").write_text("[]")
    (judged(trials[3], "score") / "metrics.json").unlink()
    cut(trials[4] / "train" / "train_log.jsonl")
    cut(judged(trials[5], "judge") / "judgments.jsonl")
    shutil.rmtree(trials[6])
    redone = {
        (trials[0].name, "train"),
        (trials[1].name, "generate"),
        (trials[2].name, "score"),
        (trials[3].name, "score"),
        (trials[4].name, "train"),
        (trials[5].name, "judge"),
        *((trials[6].name, stage) for stage in STAGES),
    }

    status = ablate("status", str(sweep_dir), env=env)
    assert status.returncode == 0, status.stderr
    assert_no_traceback(status)
    assert "1/8 trials done" in status.stdout, status.stdout  # trials[7] alone is untouched
    assert status.stderr.count("note:") == 6, status.stderr  # one per damaged file

    resumed = ablate("resume", str(sweep_dir), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert_no_traceback(resumed)
    for damaged in ("train/_done.json", "generate/_done.json", "metrics.json is missing"):
        assert resumed.stderr.count(damaged) == 1, (damaged, resumed.stderr)

    after = markers(sweep_dir)
    assert set(after) == set(before)
    changed = {key for key in after if after[key] != before.get(key)}
    assert changed == redone
    final = ablate("status", str(sweep_dir), env=env)
    assert "8/8 trials done" in final.stdout and "note:" not in final.stderr


def test_damaged_plan_trial_file_and_config_redo_nothing(
    finished: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    sweep_dir = copy_of(finished, tmp_path)
    trials = trial_dirs(sweep_dir)
    before = markers(sweep_dir)
    cut(sweep_dir / "plan.json")
    (trials[2] / "trial.json").write_text('["not", "a", "trial"]')
    cut(sweep_dir / "config.yaml")

    status = ablate("status", str(sweep_dir), env=env)
    assert status.returncode == 0, status.stderr
    assert_no_traceback(status)
    assert "plan.json" in status.stderr and "trial.json" in status.stderr
    assert "7/7 trials done" in status.stdout  # the trial with no readable spec is noted

    resumed = ablate("resume", str(sweep_dir), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert_no_traceback(resumed)
    assert "config.yaml is missing or damaged; using its copy" in resumed.stderr
    assert "0 run now" in resumed.stdout
    assert markers(sweep_dir) == before
    assert json.loads((sweep_dir / "plan.json").read_text())["trials"]
    assert json.loads((trials[2] / "trial.json").read_text())["folder"] == trials[2].name
    final = ablate("status", str(sweep_dir), env=env)
    assert "8/8 trials done" in final.stdout and "note:" not in final.stderr


def test_a_copied_sweep_resumes_in_the_copy_under_its_name(
    finished: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    original = finished / NAME
    original_markers = markers(original)
    copy = copy_of(finished, tmp_path, name="my-copy")
    shutil.rmtree(trial_dirs(copy)[0])  # some work left to do in the copy

    resumed = ablate("resume", str(copy), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 run now" in resumed.stdout
    assert "resuming it here as sweep 'my-copy'" in resumed.stderr
    assert markers(original) == original_markers, "the original must not be touched"
    assert len(markers(copy)) == len(original_markers)
    assert "name: my-copy" in (copy / "config.yaml").read_text()

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{copy.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("my-copy")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len([r for r in runs if r.data.tags.get("ablate.role") == "trial"]) == 8
