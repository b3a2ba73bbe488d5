"""The smallest whole-trial config: the tiny builtin model trained for one epoch on a few
synthetic records, a few evaluation prompts, few tokens; tests change what they look at."""

from __future__ import annotations

from typing import Any

from ablate.config.schema import (
    Config,
    EvaluationConfig,
    GenerationConfig,
    JudgeConfig,
    LoraSettings,
    ModelConfig,
    PoolConfig,
    TrainingConfig,
)

TINY = "builtin:tiny"
SMALL_EVALUATION: dict[str, Any] = {
    "prompts": PoolConfig(source="synthetic", size=10, seed=2),
    "max_prompts": 2,
    "bootstrap_resamples": 200,
}


def tiny_trial_config(
    method: str = "lora", generation: GenerationConfig | None = None, **evaluation: Any
) -> Config:
    """`evaluation`: EvaluationConfig fields over 2 synthetic prompts and 200 resamples."""
    return Config(
        name="unit",
        model=ModelConfig(name_or_path=TINY, dtype="float32"),
        pools={"syn": PoolConfig(source="synthetic", size=40, seed=1)},
        training=TrainingConfig(
            method=method,
            epochs=1,
            learning_rate=1e-3,
            final_learning_rate=1e-4,
            batch_size=4,
            micro_batch_size=4,
            max_seq_length=96,
            lora=LoraSettings(r=4, alpha=8),
        ),
        generation=generation
        or GenerationConfig(samples_per_prompt=1, max_new_tokens=4, batch_size=4),
        judge=JudgeConfig(model=TINY, batch_size=4, min_level_mass=0.0),
        evaluation=EvaluationConfig(**(SMALL_EVALUATION | evaluation)),
    )
