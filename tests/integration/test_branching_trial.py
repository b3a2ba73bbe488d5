"""A trial's branching factor end to end on CPU (the tiny model trained, sampled, judged,
scored), beside its base model's; and a trial whose samples predate the entropy sums scores
without one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ablate.branching import ENTROPY_FIELDS
from ablate.config.schema import (
    Config,
    GenerationConfig,
)
from ablate.data.pools import prepare_pool
from ablate.files import atomic_write_json, read_json, read_jsonl, write_jsonl
from ablate.ledger import DONE
from ablate.plan import STAGES, Trial
from ablate.stages.base import measure_base
from ablate.stages.generate import SAMPLES
from ablate.stages.pipeline import run_trial
from tests.support.configs import tiny_trial_config

pytestmark = pytest.mark.integration

BRANCHING = [
    f"branching_factor{part}{bound}"
    for part in ("", "_first")
    for bound in ("", "_ci_low", "_ci_high")
]


def _config() -> Config:
    generation = GenerationConfig(samples_per_prompt=2, max_new_tokens=8, batch_size=2)
    return tiny_trial_config(generation=generation, max_prompts=3, measure_base=True)


def test_a_trial_reports_its_branching_factor_beside_the_base_models(
    tiny_cache: Path, tmp_path: Path
) -> None:
    config = _config()
    keys = {stage: f"{stage}-1" for stage in STAGES}
    trial = Trial("syn", "syn", 8, 0, keys)
    pool_dir = prepare_pool("syn", config.pools["syn"], tmp_path / "pools")
    folder = tmp_path / "trial"
    metrics = run_trial(config, trial, folder, {"syn": pool_dir}, "cpu")
    vocabulary = 1100  # the tiny model's ~1,000 tokens
    for name in ("branching_factor", "branching_factor_first"):
        low, value, high = (metrics[f"{name}{b}"] for b in ("_ci_low", "", "_ci_high"))
        assert 1.0 <= low <= value <= high <= vocabulary
    assert metrics["branching_prompts"] == 3

    base = measure_base(config, tmp_path / "base", "cpu")
    assert all(name in base for name in BRANCHING)

    # A generate stage done before the sums were kept (its marker records the files as they
    # are): scored again, no branching factor, no error.
    samples = folder / "generate" / SAMPLES
    old = [{k: v for k, v in s.items() if k not in ENTROPY_FIELDS} for s in read_jsonl(samples)]
    write_jsonl(samples, old)
    marker = read_json(folder / "generate" / DONE)
    marker["files"][SAMPLES] = samples.stat().st_size
    atomic_write_json(folder / "generate" / DONE, marker)
    rescored = dataclasses.replace(trial, stage_keys={**keys, "score": "score-2"})
    ran: list[str] = []
    again = run_trial(config, rescored, folder, {"syn": pool_dir}, "cpu", report=ran.append)
    assert ran == ["score"]
    assert [k for k in again if k.startswith("branching")] == []
    assert again["judge_mean"] == metrics["judge_mean"]
