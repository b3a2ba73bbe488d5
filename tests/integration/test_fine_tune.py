"""Fine-tuning the tiny builtin model, full and LoRA: the files written, one log row per
optimizer step, LIMA's schedule, the example and token counts, packed against padded batches,
length-grouped against random micro-batches and LIMA's residual dropout (real training on CPU)."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import LoraSettings, ResidualDropout, TrainingConfig
from ablate.data.fixtures.synthetic import synthetic_records
from ablate.models.chat import CHAT_TEMPLATE
from ablate.models.finetune import fine_tune, linear_to_floor, optimizer_steps
from ablate.models.load import load_tokenizer

pytestmark = pytest.mark.integration

TINY = "builtin:tiny"

N_RECORDS = 16


def _config(method: str) -> TrainingConfig:
    return TrainingConfig(
        method=method,
        epochs=2,
        learning_rate=1e-3,
        final_learning_rate=1e-4,
        batch_size=4,
        micro_batch_size=2,
        max_seq_length=128,
        lora=LoraSettings(r=4, alpha=8),
        packing=True,  # asked for: on CPU (SDPA) the default, null, pads
    )


@pytest.fixture(scope="module")
def runs(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    records = synthetic_records(N_RECORDS, seed=3)
    # One record whose prompt alone fills max_seq_length: it must be dropped, not trained on.
    records.append({"id": "too-long", "prompt": "word " * 400, "response": "short"})
    results = {}
    variants = {
        "full": _config("full"),
        "lora": _config("lora"),
        "full-padded": replace(_config("full"), packing=False),
        "full-padded-random": replace(_config("full"), packing=False, group_by_length=False),
        "lora-dropout": replace(_config("lora"), residual_dropout=ResidualDropout(0.0, 0.3)),
    }
    for method, cfg in variants.items():
        out = tmp_path_factory.mktemp(f"train-{method}")
        stats = fine_tune(TINY, None, "float32", records, cfg, 0, out, "cpu")
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        results[method] = {"out": out, "cfg": cfg, "stats": stats, "log": log}
    return results


def test_full_fine_tune_writes_safetensors_weights_and_tokenizer(runs: dict[str, Any]) -> None:
    model_dir = runs["full"]["out"] / "model"
    assert (model_dir / "model.safetensors").is_file()
    assert (model_dir / "config.json").is_file()
    assert not (model_dir / "adapter_config.json").exists()
    assert not list(model_dir.glob("*.bin"))
    assert load_tokenizer(str(model_dir)).chat_template == CHAT_TEMPLATE


def test_lora_fine_tune_writes_a_safetensors_adapter(runs: dict[str, Any]) -> None:
    model_dir = runs["lora"]["out"] / "model"
    assert (model_dir / "adapter_model.safetensors").is_file()
    assert (model_dir / "adapter_config.json").is_file()
    assert not (model_dir / "model.safetensors").exists()
    assert not list(model_dir.glob("*.bin"))
    assert load_tokenizer(str(model_dir)).chat_template == CHAT_TEMPLATE
    trainable = {m: runs[m]["stats"]["trainable_parameters"] for m in ("lora", "full")}
    assert 0 < trainable["lora"] < trainable["full"]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_fine_tune_logs_one_row_per_optimizer_step(runs: dict[str, Any], method: str) -> None:
    run = runs[method]
    expected = optimizer_steps(N_RECORDS, run["cfg"])
    assert expected == 8
    assert run["stats"]["train_steps"] == expected
    assert [row["step"] for row in run["log"]] == list(range(1, expected + 1))
    assert all(math.isfinite(row["loss"]) for row in run["log"])


@pytest.mark.parametrize("method", ["full", "lora"])
def test_fine_tune_follows_limas_schedule(runs: dict[str, Any], method: str) -> None:
    run = runs[method]
    cfg: TrainingConfig = run["cfg"]
    rates = [row["learning_rate"] for row in run["log"]]
    assert rates[0] == pytest.approx(cfg.learning_rate)  # no warmup
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert all(r >= cfg.final_learning_rate for r in rates)
    floor = cfg.final_learning_rate / cfg.learning_rate
    total = run["stats"]["train_steps"]
    for row in run["log"]:  # the rate used at step k is the schedule at index k - 1
        expected = cfg.learning_rate * linear_to_floor(row["step"] - 1, total, 0, floor)
        assert row["learning_rate"] == pytest.approx(expected)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_fine_tune_stats_count_examples_and_tokens(runs: dict[str, Any], method: str) -> None:
    stats = runs[method]["stats"]
    assert stats["train_examples"] == N_RECORDS
    assert stats["train_examples_dropped"] == 1
    assert stats["train_tokens_seen"] > stats["train_response_tokens_seen"] > 0
    assert stats["train_tokens_seen"] % runs[method]["cfg"].epochs == 0
    assert math.isfinite(stats["train_loss"])
    assert stats["train_seconds"] >= 0


def test_packed_training_learns_what_padded_training_learns(runs: dict[str, Any]) -> None:
    packed, padded = runs["full"], runs["full-padded"]
    assert packed["stats"]["train_packed"] is True
    assert packed["stats"]["train_real_token_fraction"] == 1.0
    assert padded["stats"]["train_packed"] is False
    assert 0 < padded["stats"]["train_real_token_fraction"] < 1
    # Same data order and seed: every step's loss agrees within float tolerance.
    assert [r["loss"] for r in packed["log"]] == pytest.approx(
        [r["loss"] for r in padded["log"]], rel=1e-3
    )


def test_length_grouped_steps_learn_what_random_steps_learn(runs: dict[str, Any]) -> None:
    grouped, random = runs["full-padded"], runs["full-padded-random"]
    assert grouped["stats"]["train_length_grouped"] is True
    assert random["stats"]["train_length_grouped"] is False
    assert runs["full"]["stats"]["train_length_grouped"] is False, "packed: nothing to group"
    fractions = [r["stats"]["train_real_token_fraction"] for r in (random, grouped)]
    assert 0 < fractions[0] < fractions[1] < 1
    # Each step holds the same examples, only split otherwise into micro-batches: every
    # step's loss agrees within float tolerance.
    assert [r["loss"] for r in grouped["log"]] == pytest.approx(
        [r["loss"] for r in random["log"]], rel=1e-4
    )


def test_residual_dropout_trains_and_changes_the_loss(runs: dict[str, Any]) -> None:
    plain, dropped = runs["lora"]["log"], runs["lora-dropout"]["log"]
    assert len(plain) == len(dropped)
    assert all(math.isfinite(r["loss"]) for r in dropped)
    assert dropped[0]["loss"] != pytest.approx(plain[0]["loss"], rel=1e-4)
