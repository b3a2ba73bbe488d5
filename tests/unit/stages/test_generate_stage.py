"""The generate stage with each backend, on the builtin tiny model as the trained model (no
training). The vllm backend runs against a FAKE `vllm` module (tests/support/fake_vllm.py),
because vLLM cannot exist here (CUDA wheels, a GPU); tests/gpu runs the real one."""

from __future__ import annotations

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
from ablate.ledger import TrialLedger
from ablate.plan import STAGES, Trial
from ablate.stages.context import TrialContext
from ablate.stages.generate import HELDOUT_FILE, MERGED, SAMPLES, run_generate
from tests.support.fake_vllm import install

SAMPLE_KEYS = {"prompt_id", "prompt", "sample", "response", "n_tokens", "stopped"}


def _context(root: Path, tiny_cache: Path, backend: str) -> TrialContext:
    config = Config(
        name="unit",
        model=ModelConfig(name_or_path="builtin:tiny", dtype="float32"),
        generation=GenerationConfig(
            samples_per_prompt=2, max_new_tokens=4, batch_size=2, backend=backend
        ),
        judge=JudgeConfig(model="builtin:tiny"),
        evaluation=EvaluationConfig(
            prompts=PoolConfig(source="synthetic", size=10, seed=2), max_prompts=3
        ),
    )
    trial = Trial("syn", "syn", 8, 0, {stage: f"{stage}-1" for stage in STAGES})
    ledger = TrialLedger(root)
    (root / "train").mkdir(parents=True)
    (root / "train" / "model").symlink_to(tiny_cache, target_is_directory=True)
    return TrialContext(config, trial, ledger, {}, "cpu")


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_generate_writes_samples_the_heldout_loss_and_generation_figures(
    tiny_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    ctx = _context(tmp_path / "trial", tiny_cache, backend)
    if backend == "vllm":
        from ablate.models.load import load_tokenizer

        fake = install(monkeypatch, load_tokenizer("builtin:tiny"))
    out = tmp_path / "out"
    out.mkdir()
    run_generate(ctx, out)

    samples = read_jsonl(out / SAMPLES)
    # hf: each sample's entropy sums too (the branching factor); vllm sees too few logprobs.
    keys = SAMPLE_KEYS | (set(ENTROPY_FIELDS) if backend == "hf" else set())
    assert len(samples) == 3 * 2 and all(set(s) == keys for s in samples)
    assert [r["prompt_id"] for r in read_jsonl(out / HELDOUT_FILE)] == [
        s["prompt_id"] for s in samples[::2]
    ]
    stats = read_json(out / "stats.json")
    assert stats["generation_backend"] == backend
    assert stats["heldout_loss"] > 0 and stats["eval_prompts"] == 3
    assert stats["generation_new_tokens"] == sum(s["n_tokens"] + s["stopped"] for s in samples)
    assert stats["generation_tokens_per_s"] is not None or backend == "vllm"
    slots = stats["generation_useful_slot_fraction"]
    assert (slots is None) == (backend == "vllm")
    assert not (out / MERGED).exists()
    if backend == "vllm":
        (engine,) = fake.engines  # a full model folder: served as it is, no LoRA
        assert engine["model"] == str(ctx.stage_path("train", "model"))
        assert "enable_lora" not in engine
