"""Processes killed without a word, as a node failure or the out-of-memory killer does it:
the record says what happened, the display says why, and resume finishes the sweep.

Real Ray, training and MLflow; the kills are real SIGKILLs of real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import clean_env
from tests.support.cli import run_ablate as ablate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 300  # generous: a loaded 2-core machine starts Ray and a worker slowly
TRAIN_LOG = ".train-work/*/train_log.jsonl"  # at least one optimizer step is done
CHECKPOINT = ".train-work/*/checkpoint-*/trainer_state.json"  # a checkpoint is complete


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("cache")
    return clean_env(ABLATE_CACHE=str(cache), PYTHONUNBUFFERED="1")


def write_sweep(folder: Path, name: str, sizes: list[int]) -> Path:
    sweep = folder / f"{name}.yaml"
    # Enough epochs that training lasts a while: the kill lands inside it.
    sweep.write_text(f"""
name: {name}
experiment: {REPO / "experiments" / "tiny.yaml"}
training: {{epochs: 40, batch_size: 4, micro_batch_size: 4}}
generation: {{max_new_tokens: 8, samples_per_prompt: 2}}
evaluation: {{prompts: {{size: 4}}, bootstrap_resamples: 200}}
resources: {{max_retries: 0}}
sweep:
  arms: {{synthetic: {{pool: synthetic}}}}
  sizes: {sizes}
  seeds: [0]
""")
    return sweep


def start(sweep: Path, results: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "ablate", "run", str(sweep), "--results-dir", str(results)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_training(trial: Path, driver: subprocess.Popen[str], evidence: str) -> int:
    """The pid of the worker once `evidence` (a glob under the trial) shows training is on."""
    marker = trial / "_running.json"
    # No clock: the driver ending first (done or failed) is the failure; a slow machine only
    # waits longer.
    while driver.poll() is None:
        if marker.is_file() and list(trial.glob(evidence)):
            running = json.loads(marker.read_text())
            if running["stage"] == "train":
                return int(running["pid"])
        time.sleep(0.2)
    raise AssertionError(f"{trial} never started training: {driver.communicate()}")


def test_a_killed_worker_is_recorded_shown_and_resumed(tmp_path: Path, env: dict[str, str]) -> None:
    sweep = write_sweep(tmp_path, "workerkill", [64])
    results = tmp_path / "results"
    driver = start(sweep, results, env)
    trial = results / "workerkill" / "trials" / "synthetic-n64-s0"
    # Killed once training has saved its first checkpoint (every epoch: 16 steps).
    os.kill(wait_for_training(trial, driver, CHECKPOINT), signal.SIGKILL)
    _out, err = driver.communicate(timeout=WAIT_S)
    assert driver.returncode == 1, err
    assert "Traceback" not in err
    failed_line = next(line for line in err.splitlines() if "FAILED" in line)
    assert "ray_results" not in failed_line and "error.txt" not in failed_line, failed_line

    status = ablate("status", str(results / "workerkill"), env=env)
    assert "failed at train: the worker died during train" in status.stdout, status.stdout

    resumed = ablate("resume", str(results / "workerkill"), env=env, timeout=WAIT_S * 2)
    assert resumed.returncode == 0, resumed.stderr
    assert "1/1 trials done" in ablate("status", str(results / "workerkill"), env=env).stdout
    # Training went on from the newest checkpoint: no step up to it was run twice.
    stats = json.loads((trial / "train" / "stats.json").read_text())
    resumed_at = stats["train_resumed_from_step"]
    assert resumed_at >= 16 and resumed_at % 16 == 0, stats
    log = [json.loads(line) for line in (trial / "train" / "train_log.jsonl").open()]
    steps = [row["step"] for row in log]
    assert steps == list(range(1, stats["train_steps"] + 1)), "each step logged once"
    assert [r["step"] for r in log if r["attempt"] == 0] == list(range(1, resumed_at + 1))
    assert min(r["step"] for r in log if r["attempt"] == 1) == resumed_at + 1
    assert not (trial / ".train-work").exists(), "checkpoints are removed once trained"


def test_a_killed_driver_leaves_running_or_interrupted_never_a_silent_next(
    tmp_path: Path, env: dict[str, str]
) -> None:
    sweep = write_sweep(tmp_path, "driverkill", [64])
    results = tmp_path / "results"
    sweep_dir = results / "driverkill"
    driver = start(sweep, results, env)
    wait_for_training(sweep_dir / "trials" / "synthetic-n64-s0", driver, TRAIN_LOG)
    driver.kill()  # the driver alone: its worker lives on for a moment, an orphan
    driver.communicate()

    status = ablate("status", str(sweep_dir), env=env)
    assert status.returncode == 0, status.stderr
    label = next(line for line in status.stdout.splitlines() if "synthetic-n64-s0" in line)
    assert "running train" in label or "interrupted at train" in label, label

    # Resume at once: an orphan still holding the trial is waited for, never raced.
    resumed = ablate("resume", str(sweep_dir), env=env, timeout=WAIT_S * 2)
    assert resumed.returncode == 0, resumed.stderr
    assert "1/1 trials done" in ablate("status", str(sweep_dir), env=env).stdout
    assert not list(sweep_dir.glob("trials/*/.*.tmp-*")), "no half-written stage is left"
