"""The base model measured once per sweep (ablate.stages.base): on the builtin tiny model,
its samples and branching factor written under a key, skipped when done, redone when what
it depends on changes. Inference only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ablate.branching import ENTROPY_FIELDS
from ablate.config.schema import (
    Config,
    EvaluationConfig,
    GenerationConfig,
    JudgeConfig,
    ModelConfig,
    PoolConfig,
)
from ablate.files import read_json, read_jsonl
from ablate.stages import base
from ablate.stages.base import BASE_FILE, SAMPLES, base_key, done_base, measure_base


def _config(max_new_tokens: int = 8) -> Config:
    return Config(
        name="unit",
        model=ModelConfig(name_or_path="builtin:tiny", dtype="float32"),
        generation=GenerationConfig(
            samples_per_prompt=2, max_new_tokens=max_new_tokens, batch_size=2
        ),
        judge=JudgeConfig(model="builtin:tiny"),
        evaluation=EvaluationConfig(
            prompts=PoolConfig(source="synthetic", size=10, seed=2),
            max_prompts=3,
            bootstrap_resamples=200,
            measure_base=True,
        ),
    )


def test_measure_base_writes_its_samples_and_branching_factor(
    tiny_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config()
    result = measure_base(config, tmp_path / "base", "cpu")
    assert read_json(tmp_path / "base" / BASE_FILE) == result
    assert result["key"] == base_key(config)
    assert result["model"] == "builtin:tiny" and result["eval_prompts"] == 3
    for name in ("branching_factor", "branching_factor_first"):
        low, value, high = (result[f"{name}{s}"] for s in ("_ci_low", "", "_ci_high"))
        assert 1.0 <= low <= value <= high <= 1100  # the tiny model's ~1,000 tokens
    samples = read_jsonl(tmp_path / "base" / SAMPLES)
    assert len(samples) == result["samples"] == 3 * 2
    assert all(set(ENTROPY_FIELDS) <= set(s) for s in samples)
    assert result["generation_new_tokens"] == sum(s["n_tokens"] + s["stopped"] for s in samples)

    # Done under the same key: handed back, not sampled again.
    def no_sampling(*args: object, **kwargs: object) -> None:
        raise AssertionError("sampled again")

    monkeypatch.setattr(base, "load_base", no_sampling)
    assert measure_base(config, tmp_path / "base", "cpu") == result
    assert done_base(tmp_path / "base", result["key"]) == result


def test_the_key_follows_what_the_measurement_depends_on(tiny_cache: Path) -> None:
    config = _config()
    key = base_key(config)
    assert base_key(_config()) == key
    assert base_key(_config(max_new_tokens=16)) != key
    other_prompts = dataclasses.replace(
        config.evaluation, prompts=PoolConfig(source="synthetic", size=10, seed=3)
    )
    assert base_key(dataclasses.replace(config, evaluation=other_prompts)) != key
    other_model = dataclasses.replace(config.model, dtype="bfloat16")
    assert base_key(dataclasses.replace(config, model=other_model)) != key
    # Runtime and report-only settings are not what it depends on.
    assert base_key(dataclasses.replace(config, name="renamed")) == key


def test_a_measurement_under_other_settings_is_not_done(tiny_cache: Path, tmp_path: Path) -> None:
    assert done_base(tmp_path, "anything") is None  # missing
    (tmp_path / BASE_FILE).write_text("{not json", encoding="utf-8")
    assert done_base(tmp_path, "anything") is None  # damaged
    (tmp_path / BASE_FILE).write_text('{"key": "old"}', encoding="utf-8")
    assert done_base(tmp_path, "new") is None
    assert done_base(tmp_path, "old") == {"key": "old"}
