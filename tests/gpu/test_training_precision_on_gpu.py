"""Training precision on a real GPU: a bfloat16 full fine-tune keeps float32 master weights
and moves every weight at LIMA's learning rate, LoRA's trainable tensors are float32, and the
saved model is bfloat16 and generates. Runs only where CUDA is available (a lent GPU machine);
it needs transformers, peft and omegaconf, not Ray or MLflow. Prints figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
TINY = "builtin:tiny"


def _config(method: str) -> Any:
    from ablate.config.schema import LoraSettings, TrainingConfig

    return TrainingConfig(
        method=method, epochs=1, learning_rate=1e-5, final_learning_rate=1e-6,
        batch_size=4, micro_batch_size=4, max_seq_length=128, lora=LoraSettings(r=4, alpha=8),
        packing=True,
    )  # fmt: skip


def _train(method: str, tmp_path: Path) -> tuple[Any, dict[str, float], float, Any]:
    from transformers import set_seed

    from ablate.data.fixtures.synthetic import synthetic_records
    from ablate.models.finetune import build_trainer, prepare_model, tokenized_examples

    cfg = _config(method)
    set_seed(0)
    model, tokenizer, precision = prepare_model(TINY, None, "bfloat16", cfg, "cuda")
    before = {n: p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}
    examples = tokenized_examples(tokenizer, synthetic_records(16, seed=5), cfg.max_seq_length)
    trainer = build_trainer(model, tokenizer, examples, cfg, 0, tmp_path, "cuda", precision)
    started = time.monotonic()
    trainer.train()
    seconds = time.monotonic() - started
    moved = {
        n: float((p.detach().float() != before[n]).float().mean())
        for n, p in model.named_parameters()
        if p.requires_grad
    }
    return model, moved, seconds, trainer.data_collator


def test_bfloat16_full_fine_tune_on_cuda_moves_every_weight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "cache"))
    model, moved, seconds, batches = _train("full", tmp_path)
    dtypes = {str(p.dtype) for p in model.parameters()}
    share = sum(moved.values()) / len(moved)
    print(
        f"\nGPU full bf16: master dtypes {dtypes}, {share:.4f} of weights moved in 4 steps, "
        f"{seconds:.2f}s, packed {batches.packed}, real tokens {batches.real_token_fraction}"
    )
    assert batches.packed, "bf16 SDPA on CUDA keeps packed examples apart"
    assert dtypes == {"torch.float32"}
    assert {n: s for n, s in moved.items() if s < 0.95} == {}
    assert share > 0.99


def test_bfloat16_lora_on_cuda_trains_float32_adapters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "cache"))
    model, moved, seconds, _ = _train("lora", tmp_path)
    trainable = {str(p.dtype) for p in model.parameters() if p.requires_grad}
    frozen = {str(p.dtype) for p in model.parameters() if not p.requires_grad}
    print(f"\nGPU LoRA bf16: trainable {trainable}, frozen {frozen}, {seconds:.2f}s")
    assert trainable == {"torch.float32"} and frozen == {"torch.bfloat16"}
    lora = {n: s for n, s in moved.items() if "lora_B" in n}
    assert lora and all(s > 0.95 for s in lora.values()), lora


def test_the_saved_bfloat16_model_loads_and_generates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "cache"))
    from ablate.config.schema import GenerationConfig
    from ablate.data.fixtures.synthetic import synthetic_records
    from ablate.models.finetune import fine_tune
    from ablate.models.generation import (
        generate_samples,
        heldout_loss,
        heldout_losses,
        load_finetuned,
    )

    records = synthetic_records(16, seed=5)
    stats = fine_tune(TINY, None, "bfloat16", records, _config("full"), 0, tmp_path, "cuda")
    assert stats["train_precision"] == "bfloat16" and stats["train_master_dtype"] == "float32"
    lm = load_finetuned(tmp_path / "model", TINY, None, "bfloat16", "cuda")
    assert next(lm.model.parameters()).dtype == torch.bfloat16
    prompts = synthetic_records(4, seed=9, split="eval")
    gen = GenerationConfig(samples_per_prompt=2, max_new_tokens=8, batch_size=4)
    samples = generate_samples(lm, prompts, gen, 0)
    loss = heldout_loss(heldout_losses(lm, prompts, 128, 4))
    print(f"\nGPU generate: {len(samples)} samples, held-out loss {loss}")
    assert len(samples) == 8 and loss is not None and loss > 0
