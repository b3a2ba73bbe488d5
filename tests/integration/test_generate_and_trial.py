"""Fine-tuned models loaded back (full and LoRA), sampling and the held-out loss from them,
and one whole trial's stages on the tiny builtin model, then only what changed (real training
on CPU; the model is built once into a temporary ABLATE_CACHE)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

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
from ablate.data.fixtures.synthetic import synthetic_records
from ablate.models.chat import END_OF_TURN, SPECIAL_TOKENS, prompt_text
from ablate.models.finetune import fine_tune
from ablate.models.generation import (
    LoadedModel,
    generate_samples,
    heldout_loss,
    heldout_losses,
    load_finetuned,
)
from ablate.models.tiny import build_tiny_model
from ablate.models.tokens import tokenize_example
from ablate.plan import STAGES, Trial
from ablate.stages.pipeline import run_trial
from tests.support.tokenizers import tokenizer_without_chat_markers

pytestmark = pytest.mark.integration

TINY = "builtin:tiny"
SAMPLE_KEYS = {"prompt_id", "prompt", "sample", "response", "n_tokens", "stopped"}


def _training(method: str) -> TrainingConfig:
    return TrainingConfig(
        method=method,
        epochs=1,
        learning_rate=1e-3,
        final_learning_rate=1e-4,
        batch_size=4,
        micro_batch_size=4,
        max_seq_length=96,
        lora=LoraSettings(r=4, alpha=8),
    )


@pytest.fixture(scope="module")
def trained(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    records = synthetic_records(8, seed=5)
    dirs = {}
    for method in ("full", "lora"):
        out = tmp_path_factory.mktemp(f"gen-{method}")
        fine_tune(TINY, None, "float32", records, _training(method), 0, out, "cpu")
        dirs[method] = out / "model"
    return dirs


@pytest.fixture(scope="module")
def loaded(trained: dict[str, Path]) -> dict[str, LoadedModel]:
    return {m: load_finetuned(d, TINY, None, "float32", "cpu") for m, d in trained.items()}


def _prompts(n: int) -> list[dict[str, str]]:
    return [{"id": r["id"], "prompt": r["prompt"]} for r in synthetic_records(n, 11, "eval")]


# --- load_finetuned ----------------------------------------------------------------------------


def test_load_finetuned_full_model(loaded: dict[str, LoadedModel]) -> None:
    from peft import PeftModel

    model, tokenizer = loaded["full"].model, loaded["full"].tokenizer
    assert not isinstance(model, PeftModel)
    assert not model.training
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert all(t in tokenizer.get_vocab() for t in SPECIAL_TOKENS)


def test_load_finetuned_lora_adapter_merged_into_the_base(loaded: dict[str, LoadedModel]) -> None:
    """The adapter is merged (plain layers generate faster): the weights are the base's plus
    the trained update."""
    import torch
    from peft import PeftModel

    from ablate.models.load import load_causal_lm

    model, tokenizer = loaded["lora"].model, loaded["lora"].tokenizer
    assert not isinstance(model, PeftModel)
    assert not any("lora_" in name for name, _ in model.named_parameters())
    assert not model.training
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    base = load_causal_lm("builtin:tiny", None, "float32", "cpu")
    merged = dict(model.named_parameters())
    moved = [
        name
        for name, weight in base.named_parameters()
        if name.endswith("q_proj.weight") and not torch.equal(weight, merged[name])
    ]
    assert moved, "the LoRA update is in the merged weights"


def test_lora_on_a_base_without_chat_markers_round_trips(
    tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The markers are added in training; loading resizes the base and restores their rows."""
    import torch
    bare = tokenizer_without_chat_markers()
    base = tmp_path_factory.mktemp("bare-base")
    build_tiny_model(len(bare)).save_pretrained(base)
    bare.save_pretrained(base)

    out = tmp_path_factory.mktemp("bare-lora")
    fine_tune(str(base), None, "float32", synthetic_records(8, 0), _training("lora"), 0, out, "cpu")
    logits = []
    for seed in (1, 2):  # resizing draws the new rows at random: the adapter must override them
        torch.manual_seed(seed)
        lm = load_finetuned(out / "model", str(base), None, "float32", "cpu")
        model, tokenizer = lm.model, lm.tokenizer
        assert len(tokenizer) == len(bare) + len(SPECIAL_TOKENS)
        assert model.get_output_embeddings().weight.shape[0] == len(tokenizer)
        ids = tokenizer(prompt_text("hello"), return_tensors="pt")
        with torch.no_grad():
            logits.append(model(**ids).logits)
    assert torch.equal(logits[0], logits[1])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("method", ["full", "lora"])
def test_the_model_handed_over_after_training_is_the_saved_one(
    tiny_cache: Path, tmp_path: Path, method: str, dtype: str
) -> None:
    """What train hands to generation in memory (fine_tune's hand_over) is what generation
    would load from the saved folder: the same weights, dtype and logits, merged, not
    trainable, in eval mode (in bfloat16 a full fine-tune trains float32 master weights and
    saves bfloat16; LoRA merges a float32 adapter into a bfloat16 base)."""
    import torch

    handed: list[LoadedModel] = []
    records = synthetic_records(8, seed=5)
    training = _training(method)
    fine_tune(TINY, None, dtype, records, training, 0, tmp_path, "cpu", hand_over=handed.append)
    (kept,) = handed
    saved = load_finetuned(tmp_path / "model", TINY, None, dtype, "cpu")
    assert type(kept.model) is type(saved.model) and not kept.model.training
    assert not any(p.requires_grad for p in kept.model.parameters())
    kept_weights, saved_weights = kept.model.state_dict(), saved.model.state_dict()
    assert kept_weights.keys() == saved_weights.keys()
    for name, weight in saved_weights.items():
        assert kept_weights[name].dtype == weight.dtype, name
        assert torch.equal(kept_weights[name], weight), name
    ids = kept.tokenizer(prompt_text(records[0]["prompt"]), return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(kept.model(**ids).logits, saved.model(**ids).logits)


# --- generate_samples --------------------------------------------------------------------------

GEN = GenerationConfig(samples_per_prompt=2, max_new_tokens=8, batch_size=2)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_generate_samples_shape_and_fields(loaded: dict[str, LoadedModel], method: str) -> None:
    prompts = _prompts(3)  # two batches: 2 + 1 prompts
    samples = generate_samples(loaded[method], prompts, GEN, seed=3)
    assert len(samples) == len(prompts) * GEN.samples_per_prompt
    assert [(s["prompt_id"], s["sample"]) for s in samples] == [
        (p["id"], k) for p in prompts for k in range(GEN.samples_per_prompt)
    ]
    for s in samples:
        assert set(s) == SAMPLE_KEYS
        assert isinstance(s["response"], str)
        assert END_OF_TURN not in s["response"]
        assert 0 <= s["n_tokens"] <= GEN.max_new_tokens
        assert isinstance(s["stopped"], bool)
        if not s["stopped"]:
            assert s["n_tokens"] == GEN.max_new_tokens
    assert {s["prompt"] for s in samples} == {p["prompt"] for p in prompts}


@pytest.mark.parametrize("method", ["full", "lora"])
def test_generate_samples_is_deterministic_for_a_seed(
    loaded: dict[str, LoadedModel], method: str
) -> None:
    prompts = _prompts(3)
    first = generate_samples(loaded[method], prompts, GEN, seed=4)
    again = generate_samples(loaded[method], prompts, GEN, seed=4)
    other = generate_samples(loaded[method], prompts, GEN, seed=5)
    assert first == again
    assert [s["response"] for s in first] != [s["response"] for s in other]


# --- heldout_loss ------------------------------------------------------------------------------


def loss_of(lm: LoadedModel, records: list[dict[str, Any]], batch: int) -> float | None:
    return heldout_loss(heldout_losses(lm, records, 96, batch))


def test_heldout_loss_is_a_positive_float(loaded: dict[str, LoadedModel]) -> None:
    loss = loss_of(loaded["full"], synthetic_records(3, 2, "eval"), 2)
    assert isinstance(loss, float)
    assert loss > 0 and math.isfinite(loss)


def test_heldout_loss_is_none_without_responses(loaded: dict[str, LoadedModel]) -> None:
    assert loss_of(loaded["full"], _prompts(3), 2) is None
    assert loss_of(loaded["full"], [], 2) is None


def test_heldout_loss_is_mean_response_token_loss(loaded: dict[str, LoadedModel]) -> None:
    import torch

    lm = loaded["full"]
    model, tokenizer = lm.model, lm.tokenizer
    records = synthetic_records(3, 2, "eval")
    # One example: the same as the model's own loss with the prompt masked.
    example = tokenize_example(tokenizer, records[0]["prompt"], records[0]["response"], 96)
    assert example is not None
    with torch.no_grad():
        expected = model(
            input_ids=torch.tensor([example.input_ids]), labels=torch.tensor([example.labels])
        ).loss.item()
    assert loss_of(lm, records[:1], 1) == pytest.approx(expected, rel=1e-5)
    # Padding does not change it: per token over the whole set, whatever the batch size.
    one_by_one = heldout_losses(lm, records, 96, 1)
    batched = heldout_losses(lm, records, 96, 3)
    for a, b in zip(one_by_one, batched, strict=True):
        assert a["prompt_id"] == b["prompt_id"] and a["tokens"] == b["tokens"]
        assert a["loss_sum"] == pytest.approx(b["loss_sum"], rel=1e-5)
    assert [r["prompt_id"] for r in batched] == [r["id"] for r in records]


# --- a whole trial -----------------------------------------------------------------------------


def _trial_config() -> Config:
    return Config(
        name="unit",
        model=ModelConfig(name_or_path=TINY, dtype="float32"),
        pools={"syn": PoolConfig(source="synthetic", size=40, seed=1)},
        training=_training("lora"),
        generation=GenerationConfig(samples_per_prompt=2, max_new_tokens=6, batch_size=2),
        judge=JudgeConfig(model=TINY, batch_size=4, min_level_mass=0.0),
        evaluation=EvaluationConfig(
            prompts=PoolConfig(source="synthetic", size=10, seed=2),
            max_prompts=2,
            bootstrap_resamples=100,
        ),
    )


def test_run_trial_runs_every_stage_then_only_what_changed(
    tiny_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ablate.models.generation as generation

    loads: list[Path] = []  # the saved model read back by generation, counted
    real_load = generation.load_finetuned

    def counted(model_dir: Path, *args: Any) -> LoadedModel:
        loads.append(model_dir)
        return real_load(model_dir, *args)

    monkeypatch.setattr(generation, "load_finetuned", counted)
    config = _trial_config()
    keys = {stage: f"{stage}-1" for stage in STAGES}
    trial = Trial("syn", "syn", 8, 0, keys)
    ran: list[str] = []
    from ablate.data.pools import prepare_pool

    pool_dir = prepare_pool("syn", config.pools["syn"], tmp_path / "pools")
    metrics = run_trial(config, trial, tmp_path, {"syn": pool_dir}, "cpu", report=ran.append)
    assert ran == list(STAGES)
    assert loads == []  # generation sampled from the model train handed over in memory
    handed_over = (tmp_path / "generate" / "samples.jsonl").read_text("utf-8")
    handed_over_losses = (tmp_path / "generate" / "heldout_losses.jsonl").read_text("utf-8")
    assert metrics["samples"] == 4
    assert metrics["judge_scored"] == 4 and metrics["judge_unscored"] == 0
    assert 1.0 <= metrics["judge_mean"] <= 6.0
    assert metrics["heldout_loss"] > 0 and metrics["eval_prompts"] == 2
    assert metrics["train_examples"] == 8 and metrics["train_steps"] == 2
    assert not (tmp_path / "train" / "scratch").exists()
    assert (tmp_path / "train" / "model" / "adapter_model.safetensors").is_file()

    ran.clear()  # the same plan again: nothing to do
    again = run_trial(config, trial, tmp_path, {"syn": pool_dir}, "cpu", report=ran.append)
    assert again == metrics
    assert ran == []

    # A new judge key re-runs judging and scoring only.
    new_keys = {**keys, "judge": "judge-2", "score": "score-2"}
    rejudged = dataclasses.replace(trial, stage_keys=new_keys)
    run_trial(config, rejudged, tmp_path, {"syn": pool_dir}, "cpu", report=ran.append)
    assert ran == ["judge", "score"]

    # A new generate key re-runs generation from the saved model (as a trial resumed after
    # training does): the same samples and losses as from the model handed over in memory.
    ran.clear()
    regenerated = {**new_keys, "generate": "generate-2", "judge": "judge-3", "score": "score-3"}
    trial = dataclasses.replace(trial, stage_keys=regenerated)
    run_trial(config, trial, tmp_path, {"syn": pool_dir}, "cpu", report=ran.append)
    assert ran == ["generate", "judge", "score"]
    assert loads == [tmp_path / "train" / "model"]
    assert (tmp_path / "generate" / "samples.jsonl").read_text("utf-8") == handed_over
    losses = (tmp_path / "generate" / "heldout_losses.jsonl").read_text("utf-8")
    assert losses == handed_over_losses
