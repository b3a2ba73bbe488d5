"""Full fine-tuning in a 16-bit dtype keeps float32 master weights, so LIMA's small learning
rate moves every weight (in bfloat16 itself, updates of about 1e-5 of a weight's size fall
below its resolution of 2**-8 and most weights never change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import TrainingConfig
from ablate.data.fixtures.synthetic import synthetic_records
from ablate.models.finetune import (
    Precision,
    build_trainer,
    prepare_model,
    tokenized_examples,
    training_precision,
)

pytestmark = pytest.mark.integration
TINY = "builtin:tiny"


def _lima_steps(steps: int) -> tuple[TrainingConfig, list[dict[str, Any]]]:
    cfg = TrainingConfig(
        method="full", epochs=1, learning_rate=1e-5, final_learning_rate=1e-6,
        batch_size=4, micro_batch_size=4, max_seq_length=128,
    )  # fmt: skip
    return cfg, synthetic_records(4 * steps, seed=5)


def _moved_share(model: Any, before: dict[str, Any]) -> dict[str, float]:
    """Per trainable tensor: the share of its elements that changed."""
    return {
        name: float((p.detach().float() != before[name]).float().mean())
        for name, p in model.named_parameters()
        if p.requires_grad
    }


def _train(tmp_path: Path, precision: Precision | None) -> tuple[Any, dict[str, float]]:
    from transformers import set_seed

    cfg, records = _lima_steps(4)
    set_seed(0)
    model, tokenizer, planned = prepare_model(TINY, None, "bfloat16", cfg, "cpu")
    if precision is not None:  # the old behaviour, for contrast: bfloat16 weights throughout
        model = model.to(__import__("torch").bfloat16)
        planned = precision
    before = {n: p.detach().float().clone() for n, p in model.named_parameters()}
    examples = tokenized_examples(tokenizer, records, cfg.max_seq_length)
    trainer = build_trainer(model, tokenizer, examples, cfg, 0, tmp_path, "cpu", planned)
    trainer.train()
    assert trainer.state.global_step == 4
    return model, _moved_share(model, before)


def test_bfloat16_full_fine_tune_moves_every_weight(tiny_cache: Path, tmp_path: Path) -> None:
    model, moved = _train(tmp_path, None)
    assert next(model.parameters()).dtype.is_floating_point
    assert str(next(model.parameters()).dtype) == "torch.float32"  # the master weights
    # Every tensor moved nearly everywhere (an element can step out and back to the same value
    # by chance: one of the tiny model's 64 norm weights does at this seed).
    assert moved and {name: s for name, s in moved.items() if s < 0.95} == {}
    assert sum(moved.values()) / len(moved) > 0.99


def test_bfloat16_weights_alone_lose_the_updates(tiny_cache: Path, tmp_path: Path) -> None:
    """The defect the master weights fix: the same 4 steps with bfloat16 weights throughout."""
    _, moved = _train(tmp_path, Precision("bfloat16", None, False, None))
    total = sum(moved.values()) / len(moved)
    assert total < 0.5, f"bfloat16 weights should mostly not move, {total:.0%} did"


def test_precision_plan() -> None:
    assert training_precision("bfloat16", None, "full") == Precision(
        "float32", "bfloat16", False, "bfloat16"
    )
    assert training_precision("auto", "bfloat16", "full").load_dtype == "float32"
    assert training_precision("bfloat16", None, "lora") == Precision(
        "bfloat16", "bfloat16", True, None
    )
    assert training_precision("float32", "bfloat16", "full") == Precision(
        "float32", None, False, None
    )
    assert training_precision("auto", None, "full") == Precision("auto", None, False, None)
