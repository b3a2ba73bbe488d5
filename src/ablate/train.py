"""Fine-tune: transformers Trainer + peft, loss on response tokens only, LIMA's optimizer.

LIMA's schedule decays linearly from 1e-5 to 1e-6 (transformers' "linear" goes to 0), so the
optimizer and a LambdaLR are built here and handed to the Trainer.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.chat import CHAT_TEMPLATE, SPECIAL_TOKENS, conversation_segments
from ablate.config.schema import TrainingConfig
from ablate.models.load import load_causal_lm, load_tokenizer

IGNORE = -100  # label value the loss skips


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


def tokenize_turns(tokenizer: Any, turns: list[str], max_len: int) -> Example | None:
    """User turns and markers get IGNORE labels, assistant turns are learned; None when
    truncation would leave no learned token."""
    input_ids = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    labels = [IGNORE] * len(input_ids)
    for text, learned in conversation_segments(turns):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        input_ids += ids
        labels += ids if learned else [IGNORE] * len(ids)
    input_ids, labels = input_ids[:max_len], labels[:max_len]
    if all(label == IGNORE for label in labels):
        return None
    return Example(input_ids, labels)


def tokenize_example(tokenizer: Any, prompt: str, response: str, max_len: int) -> Example | None:
    return tokenize_turns(tokenizer, [prompt, response], max_len)


def tokenize_record(tokenizer: Any, record: dict[str, Any], max_len: int) -> Example | None:
    """A single-turn record, or a multi-turn one (its "turns") as one conversation."""
    turns = record.get("turns") or [record["prompt"], record["response"]]
    return tokenize_turns(tokenizer, turns, max_len)


def collate(examples: list[Example], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(e.input_ids) for e in examples)

    def pad(values: list[int], fill: int) -> list[int]:
        return values + [fill] * (width - len(values))

    return {
        "input_ids": torch.tensor([pad(e.input_ids, pad_id) for e in examples]),
        "attention_mask": torch.tensor([pad([1] * len(e.input_ids), 0) for e in examples]),
        "labels": torch.tensor([pad(e.labels, IGNORE) for e in examples]),
    }


def add_chat_tokens(tokenizer: Any, model: Any) -> list[int]:
    """Add the end-of-turn and role markers the tokenizer lacks (LIMA adds its EOT token)."""
    missing = [t for t in SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
        model.resize_token_embeddings(len(tokenizer))
    tokenizer.chat_template = CHAT_TEMPLATE
    return [tokenizer.convert_tokens_to_ids(t) for t in missing]


def linear_to_floor(step: int, total: int, warmup: int, floor_ratio: float) -> float:
    """LR multiplier: warmup to 1, then linear from 1 to floor_ratio at step `total`.

    As in transformers' linear schedule, step `total` itself takes no update, so the last
    update runs a hair above the floor (1.15e-6 instead of 1e-6 for 60 steps).
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 1.0 - (1.0 - floor_ratio) * min(1.0, progress)


def optimizer_steps(n_examples: int, cfg: TrainingConfig) -> int:
    micro_batches = math.ceil(n_examples / cfg.micro_batch_size)
    accumulation = cfg.batch_size // cfg.micro_batch_size
    return cfg.epochs * math.ceil(micro_batches / accumulation)


def wrap_lora(model: Any, cfg: TrainingConfig, new_token_ids: list[int]) -> Any:
    from peft import LoraConfig, get_peft_model

    targets: Any = cfg.lora.target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"
    lora = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        # New marker tokens start untrained; train just their embedding rows.
        trainable_token_indices=new_token_ids or None,
    )
    return get_peft_model(model, lora)


def _optimizer(model: Any, cfg: TrainingConfig, total_steps: int) -> tuple[Any, Any]:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=cfg.learning_rate,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        weight_decay=cfg.weight_decay,
    )
    floor = cfg.final_learning_rate / cfg.learning_rate
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: linear_to_floor(s, total_steps, cfg.warmup_steps, floor)
    )
    return optimizer, schedule


def _loss_logger(path: Path) -> Any:
    from transformers import TrainerCallback

    class LossLogger(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                row = {"step": state.global_step, "epoch": state.epoch, **logs}
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")

    return LossLogger()


def _training_args(cfg: TrainingConfig, seed: int, scratch: Path, device: str) -> Any:
    from transformers import TrainingArguments

    # transformers 5 renamed gradient_checkpointing; pass it only when asked for.
    optional: dict[str, Any] = {}
    if cfg.gradient_checkpointing:
        optional["gradient_checkpointing"] = True
    return TrainingArguments(
        output_dir=str(scratch),
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.batch_size // cfg.micro_batch_size,
        num_train_epochs=cfg.epochs,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        disable_tqdm=True,
        remove_unused_columns=False,
        **optional,
    )


def fine_tune(
    base_model: str,
    revision: str | None,
    dtype: str,
    records: list[dict[str, str]],
    cfg: TrainingConfig,
    seed: int,
    output_dir: Path,
    device: str,
) -> dict[str, Any]:
    """Train on `records` and save the weights (safetensors) and tokenizer to output_dir."""
    from transformers import PrinterCallback, Trainer, set_seed

    set_seed(seed)
    tokenizer = load_tokenizer(base_model, revision)
    model = load_causal_lm(base_model, revision, dtype, device)
    new_ids = add_chat_tokens(tokenizer, model)
    if cfg.method == "lora":
        model = wrap_lora(model, cfg, new_ids)
    tokenized = [tokenize_record(tokenizer, r, cfg.max_seq_length) for r in records]
    examples = [e for e in tokenized if e is not None]
    total_steps = optimizer_steps(len(examples), cfg)
    log_path = output_dir / "train_log.jsonl"
    trainer = Trainer(
        model=model,
        args=_training_args(cfg, seed, output_dir / "scratch", device),
        train_dataset=examples,
        data_collator=lambda batch: collate(batch, tokenizer.pad_token_id),
        optimizers=_optimizer(model, cfg, total_steps),
        callbacks=[_loss_logger(log_path)],
    )
    trainer.remove_callback(PrinterCallback)  # the loss goes to train_log.jsonl, not stdout
    started = time.time()
    result = trainer.train()
    model.save_pretrained(output_dir / "model", safe_serialization=True)
    tokenizer.save_pretrained(output_dir / "model")
    tokens = sum(len(e.input_ids) for e in examples)
    return {
        "train_seconds": round(time.time() - started, 3),
        "device": device,
        "train_steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "train_tokens_seen": tokens * cfg.epochs,
        "train_response_tokens_seen": sum(sum(x != IGNORE for x in e.labels) for e in examples)
        * cfg.epochs,
        "train_examples": len(examples),
        "train_examples_dropped": len(records) - len(examples),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
