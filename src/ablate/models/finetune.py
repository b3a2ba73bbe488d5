"""Fine-tune: transformers Trainer + peft, loss on response tokens only, LIMA's optimizer.

LIMA's schedule decays linearly from 1e-5 to 1e-6 (transformers' "linear" goes to 0), so the
optimizer and a LambdaLR are built here and handed to the Trainer.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.config.schema import TrainingConfig, checkpoint_interval
from ablate.models.generation import LoadedModel
from ablate.models.load import load_causal_lm, load_tokenizer
from ablate.models.packing import LengthGroupedSteps, TrainingBatches, use_packing
from ablate.models.tokens import IGNORE, Example, add_chat_tokens, tokenize_record


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


def new_token_rows(model: Any, new_token_ids: list[int]) -> dict[str, list[int]] | None:
    """The added tokens' rows LoRA trains and saves (peft's trainable_token_indices), in the
    input embedding and in the output layer: the markers start untrained on both sides, and the
    output row of the end-of-turn marker is what stops generation. A tied output layer is the
    embedding itself: peft ties its rows to the embedding's and saves them once."""
    if not new_token_ids:
        return None
    names = {id(module): name for name, module in model.named_modules()}
    layers = [model.get_input_embeddings(), model.get_output_embeddings()]
    return {names[id(layer)]: new_token_ids for layer in layers if layer is not None}


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
        trainable_token_indices=new_token_rows(model, new_token_ids),
    )
    return get_peft_model(model, lora)


def save_model(model: Any, folder: Path, method: str) -> None:
    """The weights as safetensors: a full model, or LoRA's adapter with only what training
    changed. peft's default saves the whole input and output layers whenever the vocabulary
    grew (~0.5 GB per trial at 7B, more than the tiny base model itself), though only the added
    tokens' rows changed and the adapter already holds them (trainable_token_indices keeps
    their values, not differences: loading writes them over whatever rows resizing drew)."""
    if method == "lora":
        model.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
    else:
        model.save_pretrained(folder, safe_serialization=True)


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


def _loss_logger(path: Path, attempt: int) -> Any:
    from transformers import TrainerCallback

    class LossLogger(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                row = {"step": state.global_step, "epoch": state.epoch, "attempt": attempt, **logs}
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")

    return LossLogger()


def _no_final_checkpoint() -> Any:
    from transformers import TrainerCallback

    class NoFinalCheckpoint(TrainerCallback):
        """The last step's checkpoint would be saved only to be deleted (the model is saved
        anyway): at 7B a full one is ~110 GB of writing for nothing."""

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step >= state.max_steps:
                control.should_save = False

    return NoFinalCheckpoint()


def _progress_reporter(on_step: Callable[[int, int], None]) -> Any:
    from transformers import TrainerCallback

    class ProgressReporter(TrainerCallback):
        """The step inside training for the live display, at most every REPORT_EVERY_S."""

        last = 0.0

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            now = time.monotonic()
            if now - self.last >= REPORT_EVERY_S or state.global_step == state.max_steps:
                self.last = now
                on_step(state.global_step, state.max_steps)

    return ProgressReporter()


REPORT_EVERY_S = 2.0
TRAIN_LOG = "train_log.jsonl"  # one row per optimizer step
SIXTEEN_BIT = ("bfloat16", "float16")


@dataclass(frozen=True)
class Precision:
    """How weights are held and computed while training (pure: unit-tested).

    A 16-bit full fine-tune cannot hold its own updates: at LIMA's learning rate of 1e-5 an
    AdamW step changes a weight by about 1e-5 of its size, below bfloat16's resolution of
    2**-8, so most weights never move. Full fine-tuning therefore keeps float32 master weights
    and computes in the 16-bit type under autocast (mixed precision). LoRA keeps the frozen base
    in 16 bits (its memory saving) and only the small trainable tensors in float32."""

    load_dtype: str  # the dtype the model is loaded in
    autocast_dtype: str | None  # the dtype forward passes run in, None = the weights' own
    trainable_float32: bool  # cast trainable tensors to float32 after wrapping (LoRA)
    save_dtype: str | None  # cast to this before saving a full model (what generation loads)


def training_precision(dtype: str, checkpoint_dtype: str | None, method: str) -> Precision:
    resolved = checkpoint_dtype if dtype == "auto" else dtype
    if resolved not in SIXTEEN_BIT:
        return Precision(dtype, None, False, None)
    if method == "full":
        return Precision("float32", resolved, False, resolved)
    return Precision(resolved, resolved, True, None)


def checkpoint_dtype(name_or_path: str, revision: str | None) -> str | None:
    """The dtype a checkpoint's config declares (what dtype="auto" loads), if any."""
    from transformers import AutoConfig

    from ablate.models.load import local_path

    config = AutoConfig.from_pretrained(local_path(name_or_path), revision=revision)
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return None if value is None else str(value).removeprefix("torch.")


def checkpoint_steps(cfg: TrainingConfig, n_examples: int) -> int | None:
    """Optimizer steps between checkpoints (training.checkpoint_every), None for none."""
    interval = checkpoint_interval(cfg.checkpoint_every) if cfg.checkpoint_every else None
    if interval is None:
        return None
    count, unit = interval
    per_epoch = optimizer_steps(n_examples, cfg) // cfg.epochs
    return count * per_epoch if unit == "epoch" else count


def last_checkpoint(work: Path) -> tuple[Path, int] | None:
    """The newest complete checkpoint Trainer left in `work`, and its step. Trainer writes
    trainer_state.json last: a folder without it was cut short by a kill and is skipped."""
    found = [
        (int(folder.name.removeprefix("checkpoint-")), folder)
        for folder in work.glob("checkpoint-*")
        if folder.name.removeprefix("checkpoint-").isdigit()
        and (folder / "trainer_state.json").is_file()
    ]
    if not found:
        return None
    step, folder = max(found)
    return folder, step


def _continue_log(log: Path, resumed_at: int | None) -> int:
    """Keep the log's rows up to the checkpoint training resumes from (later ones are redone);
    the number of this attempt (0 for a fresh start)."""
    if resumed_at is None or not log.is_file():
        log.unlink(missing_ok=True)
        return 0
    rows = [json.loads(line) for line in log.read_text("utf-8").splitlines() if line.strip()]
    kept = [r for r in rows if r["step"] <= resumed_at]
    log.write_text("".join(json.dumps(r) + "\n" for r in kept), "utf-8")
    return 1 + max((r.get("attempt", 0) for r in rows), default=0)


def _training_args(
    cfg: TrainingConfig,
    seed: int,
    scratch: Path,
    device: str,
    autocast: str | None,
    save_steps: int | None = None,
) -> Any:
    from transformers import TrainingArguments

    # transformers 5 renamed gradient_checkpointing; pass it only when asked for.
    optional: dict[str, Any] = {}
    if save_steps is not None:
        # The newest checkpoint only: weights, optimizer, schedule, RNG and step.
        optional |= {"save_strategy": "steps", "save_steps": save_steps, "save_total_limit": 1}
    else:
        optional["save_strategy"] = "no"
    if cfg.gradient_checkpointing:
        optional["gradient_checkpointing"] = True
    if autocast is not None:
        optional["bf16" if autocast == "bfloat16" else "fp16"] = True
    return TrainingArguments(
        output_dir=str(scratch),
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.batch_size // cfg.micro_batch_size,
        num_train_epochs=cfg.epochs,
        logging_steps=1,
        report_to=[],
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        disable_tqdm=True,
        remove_unused_columns=False,
        **optional,
    )


def prepare_model(
    base_model: str, revision: str | None, dtype: str, cfg: TrainingConfig, device: str
) -> tuple[Any, Any, Precision]:
    """The model to train (float32 master weights where 16 bits cannot hold the updates, see
    Precision), its tokenizer with the chat markers, and the precision plan."""
    precision = training_precision(dtype, checkpoint_dtype(base_model, revision), cfg.method)
    tokenizer = load_tokenizer(base_model, revision)
    model = load_causal_lm(
        base_model, revision, precision.load_dtype, device, cfg.attn_implementation
    )
    new_ids = add_chat_tokens(tokenizer, model)
    if cfg.residual_dropout is not None:
        from ablate.models.residual_dropout import add_residual_dropout

        add_residual_dropout(model, cfg.residual_dropout.bottom, cfg.residual_dropout.top)
    if cfg.method == "lora":
        model = wrap_lora(model, cfg, new_ids)
    if precision.trainable_float32:
        for param in model.parameters():
            if param.requires_grad:
                param.data = param.data.float()
    return model, tokenizer, precision


def tokenized_examples(
    tokenizer: Any, records: list[dict[str, Any]], max_len: int
) -> list[Example]:
    """Examples that keep at least one response token; a config error when none does."""
    tokenized = [tokenize_record(tokenizer, r, max_len) for r in records]
    examples = [e for e in tokenized if e is not None]
    if records and not examples:
        from ablate.errors import UserError

        raise UserError(
            f"training.max_seq_length: {max_len} tokens leave no response token in any of the "
            f"{len(records)} training examples (the prompts fill it); raise it."
        )
    return examples


def _trainer_class(order: LengthGroupedSteps | None) -> Any:
    """transformers' Trainer, drawing its examples in `order` when one is given (it draws
    them at random otherwise)."""
    from transformers import Trainer

    if order is None:
        return Trainer

    class LengthGroupedTrainer(Trainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            return order

    return LengthGroupedTrainer


def build_trainer(
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    cfg: TrainingConfig,
    seed: int,
    scratch: Path,
    device: str,
    precision: Precision,
    save_steps: int | None = None,
) -> Any:
    """A Trainer with LIMA's optimizer and schedule over `examples`, in `precision`, saving a
    checkpoint into `scratch` every `save_steps`; its data_collator is a TrainingBatches
    (packed as training.packing says, where the model keeps packed examples apart), and padded
    micro-batches are grouped by length as training.group_by_length says."""
    from transformers import PrinterCallback

    packed = use_packing(cfg.packing, model, device)
    # Not when packed: no slot is padding there, and a row of the step's longest examples
    # would only raise the peak memory.
    grouped = cfg.group_by_length and not packed
    lengths = [len(e.input_ids) for e in examples]
    order = LengthGroupedSteps(lengths, cfg.batch_size, seed) if grouped else None
    trainer = _trainer_class(order)(
        model=model,
        args=_training_args(cfg, seed, scratch, device, precision.autocast_dtype, save_steps),
        train_dataset=examples,
        data_collator=TrainingBatches(tokenizer.pad_token_id, packed),
        optimizers=_optimizer(model, cfg, optimizer_steps(len(examples), cfg)),
    )
    trainer.remove_callback(PrinterCallback)  # the loss goes to train_log.jsonl, not stdout
    return trainer


def to_saved_dtype(model: Any, dtype: str) -> Any:
    """The float32 master weights cast to the dtype they are saved in, as loading them back
    in that dtype would give them: parameters and saved buffers cast, buffers that are not
    saved (a rotary embedding's frequencies, computed in float32 at init on purpose) kept."""
    from ablate.models.load import torch_dtype

    unsaved = [
        (module, name, buffer)
        for module in model.modules()
        for name, buffer in module._buffers.items()
        if buffer is not None and name in module._non_persistent_buffers_set
    ]
    model = model.to(torch_dtype(dtype))
    for module, name, buffer in unsaved:
        module._buffers[name] = buffer
    return model


def ready_for_generation(model: Any, tokenizer: Any, method: str, device: str) -> LoadedModel:
    """The just-trained model as generation would load it from its saved folder
    (generation.load_finetuned), without reading it back: LoRA merged into the base weights,
    nothing left to train, in eval mode (the residual dropout's hooks act only in training).
    Called after saving, so a full model is already in the saved dtype."""
    if method == "lora":
        model = model.merge_and_unload()
    for param in model.parameters():
        param.requires_grad_(False)
        param.grad = None
    model.eval()
    return LoadedModel(model, tokenizer, device)


def fine_tune(
    base_model: str,
    revision: str | None,
    dtype: str,
    records: list[dict[str, str]],
    cfg: TrainingConfig,
    seed: int,
    output_dir: Path,
    device: str,
    on_step: Callable[[int, int], None] | None = None,
    work_dir: Path | None = None,
    hand_over: Callable[[LoadedModel], None] | None = None,
) -> dict[str, Any]:
    """Train on `records` and save the weights (safetensors), tokenizer and train log to
    output_dir. With a `work_dir` (kept across restarts), checkpoints go there every
    training.checkpoint_every and training continues from the newest one it holds.
    hand_over, when given, gets the trained model ready for generation (ready_for_generation),
    so the same process can sample from it without loading the saved one again."""
    from transformers import set_seed

    set_seed(seed)
    model, tokenizer, precision = prepare_model(base_model, revision, dtype, cfg, device)
    examples = tokenized_examples(tokenizer, records, cfg.max_seq_length)
    work = work_dir if work_dir is not None else output_dir / "scratch"
    save_steps = checkpoint_steps(cfg, len(examples)) if work_dir is not None else None
    trainer = build_trainer(
        model, tokenizer, examples, cfg, seed, work, device, precision, save_steps
    )
    resume = last_checkpoint(work) if save_steps is not None else None
    log = (work_dir or output_dir) / TRAIN_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    attempt = _continue_log(log, resume[1] if resume else None)
    trainer.add_callback(_loss_logger(log, attempt))
    trainer.add_callback(_no_final_checkpoint())
    if on_step is not None:
        trainer.add_callback(_progress_reporter(on_step))
    started = time.time()
    result = trainer.train(resume_from_checkpoint=str(resume[0]) if resume else None)
    if work_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, output_dir / TRAIN_LOG)
    else:
        shutil.rmtree(work, ignore_errors=True)  # Trainer's working folder, empty of value
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if precision.save_dtype is not None:
        model = to_saved_dtype(model, precision.save_dtype)
    save_model(model, output_dir / "model", cfg.method)
    tokenizer.save_pretrained(output_dir / "model")
    tokens = sum(len(e.input_ids) for e in examples)
    stats = {
        "train_seconds": round(time.time() - started, 3),
        "device": device,
        "train_precision": precision.autocast_dtype or precision.load_dtype,
        "train_master_dtype": "float32" if precision.autocast_dtype else precision.load_dtype,
        "train_steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "train_tokens_seen": tokens * cfg.epochs,
        "train_response_tokens_seen": sum(sum(x != IGNORE for x in e.labels) for e in examples)
        * cfg.epochs,
        "train_resumed_from_step": resume[1] if resume else None,
        "train_attempt": attempt,
        "train_packed": trainer.data_collator.packed,
        "train_length_grouped": cfg.group_by_length and not trainer.data_collator.packed,
        "train_real_token_fraction": trainer.data_collator.real_token_fraction,
        "train_examples": len(examples),
        "train_examples_dropped": len(records) - len(examples),
        "trainable_parameters": trainable,
    }
    if hand_over is not None:
        # Mixed precision wrapped the model's forward in autocast with float32 outputs: the
        # saved model, loaded again, computes in its own dtype, and so must this one.
        model = trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
        del trainer  # its optimizer state: the model alone goes on
        hand_over(ready_for_generation(model, tokenizer, cfg.method, device))
    return stats
