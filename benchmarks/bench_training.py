"""How much of a training batch is real tokens, and how close the train stage runs to a bare
PyTorch loop, on LIMA-like data (synthetic Stack Exchange and wikiHow pools).

    python benchmarks/bench_training.py [--records 256] [--repeats 3]

1. Real-token fraction: the share of tensor slots that hold a token, padded (each micro-batch
   padded to its longest example) in a shuffled order, padded and grouped by length
   (training.group_by_length: each optimizer step's examples sorted by length, at LIMA's
   batch size of 32) and packed (training.packing), at micro-batch 4 and 8. Lengths are in
   the tiny model's tokens, cut at 2,048.
2. Tokens/s: the train stage's fine_tune (transformers Trainer, LIMA's optimizer and schedule,
   packing on and off; padded batches grouped by length, its default) against a bare loop
   (the same model, examples, micro-batches, AdamW and accumulation, no Trainer), on this
   machine's CPU. Runs alternate (bare, stage, bare, ...) so a busy machine slows both alike;
   each side's fastest run is compared. Both draw the same grouped order when padded; the
   slot ratio compares equal work whatever the shuffles.
3. On a CUDA GPU (skipped with a printed line otherwise): the same comparison in bfloat16 (the
   stage's mixed precision: float32 master weights, bfloat16 autocast; the bare loop the same)
   on a head-64 Llama (or --gpu-model, a local model folder), with SDPA padded and, where
   flash-attn is installed, flash-attention packed; and the model FLOPs utilisation
   MFU = tokens/s x FLOPs per token / the GPU's peak bfloat16 FLOP/s (dense). FLOPs per token:
   6 x the parameters that multiply (the input embedding is a lookup; a tied output layer
   multiplies) plus 12 x layers x hidden x the token-weighted mean example length (attention,
   as PaLM's appendix B counts it, over each example's own tokens: padding is not useful work).
   The peak comes from the device name (H100/H200 SXM 989 TFLOP/s, A100 312, ...) or
   --peak-tflops.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

MAX_LEN = 2048
LIMA_BATCH = 32  # examples per optimizer step: the span length grouping sorts within


def lima_like_pools(folder: Path, records: int) -> dict[str, list[dict[str, Any]]]:
    """`records` examples from each synthetic pool, built by the real pool builders."""
    from ablate.config.schema import PoolConfig
    from ablate.data.build import BuildStats
    from ablate.data.fixtures.dumps import write_stackexchange_dump, write_wikihow_csv
    from ablate.data.sources.stackexchange import build_stackexchange
    from ablate.data.sources.wikihow import build_wikihow

    write_stackexchange_dump(folder / "se", sites=4, questions_per_site=records, seed=0)
    write_wikihow_csv(folder / "wikihow.csv", articles=records * 2, seed=0)
    se = PoolConfig(source="stackexchange", path=str(folder / "se"))
    wh = PoolConfig(source="wikihow", path=str(folder / "wikihow.csv"))
    return {
        "stackexchange": list(build_stackexchange(se, "train", BuildStats(), folder))[:records],
        "wikihow": list(build_wikihow(wh, "train", BuildStats()))[:records],
    }


def trainer_order(examples: list[Any], grouped_step: int | None, seed: int = 0) -> list[Any]:
    """The examples in a shuffled order, or in the train stage's order grouped by length
    within steps of `grouped_step` examples (the same as the stage's for the same seed)."""
    from ablate.models.packing import LengthGroupedSteps

    if grouped_step is not None:
        lengths = [len(e.input_ids) for e in examples]
        return [examples[i] for i in LengthGroupedSteps(lengths, grouped_step, seed)]
    order = examples[:]
    random.Random(seed).shuffle(order)
    return order


def real_token_fraction(
    examples: list[Any], micro: int, packed: bool, pad_id: int, grouped: bool = False
) -> float:
    from ablate.models.packing import TrainingBatches

    order = trainer_order(examples, LIMA_BATCH if grouped else None)
    batches = TrainingBatches(pad_id, packed)
    for i in range(0, len(order), micro):
        batches(order[i : i + micro])
    return batches.real_token_fraction or 0.0


TINY = ("builtin:tiny", "float32", "cpu")  # model, dtype, device of the CPU comparison


def bare_loop(
    examples: list[Any], cfg: Any, packed: bool, where: tuple[str, str, str] = TINY
) -> tuple[float, float]:
    """Seconds for one epoch of the same work without the Trainer, and its real-token
    fraction (padded: the stage's grouped order, so the same paddings). In the stage's
    precision: float32 master weights under 16-bit autocast where the stage trains so."""
    import contextlib

    import torch

    from ablate.models.finetune import prepare_model
    from ablate.models.load import torch_dtype
    from ablate.models.packing import TrainingBatches

    name, dtype, device = where
    torch.manual_seed(0)
    model, tokenizer, precision = prepare_model(name, None, dtype, cfg, device)
    model.train()
    batches = TrainingBatches(tokenizer.pad_token_id, packed)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate
    )
    accumulation = cfg.batch_size // cfg.micro_batch_size
    order = trainer_order(examples, None if packed else cfg.batch_size)
    autocast = (
        torch.autocast(device.split(":")[0], torch_dtype(precision.autocast_dtype))
        if precision.autocast_dtype
        else contextlib.nullcontext()
    )
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    synchronize()
    started = time.perf_counter()
    for step, i in enumerate(range(0, len(order), cfg.micro_batch_size), start=1):
        batch = batches(order[i : i + cfg.micro_batch_size])
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        with autocast:
            loss = model(**batch).loss / accumulation
        loss.backward()
        if step % accumulation == 0:
            optimizer.step()
            optimizer.zero_grad()
    synchronize()
    return time.perf_counter() - started, batches.real_token_fraction or 1.0


def train_stage(
    records: list[dict[str, Any]], cfg: Any, out: Path, where: tuple[str, str, str] = TINY
) -> tuple[float, float]:
    from ablate.models.finetune import fine_tune

    name, dtype, device = where
    stats = fine_tune(name, None, dtype, records, cfg, 0, out, device)
    return float(stats["train_seconds"]), float(stats["train_real_token_fraction"])


# Dense bfloat16 peaks (TFLOP/s) by a piece of the device name, most specific first.
PEAK_TFLOPS = (
    ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H200 NVL", 835.0), ("H200", 989.4),
    ("H100", 989.4), ("H800", 989.4),
    ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.1), ("L40", 181.0),
    ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.2), ("RTX 3090", 71.0),
)  # fmt: skip


def peak_tflops(device_name: str) -> float | None:
    return next((peak for part, peak in PEAK_TFLOPS if part in device_name), None)


def flops_per_token(model: Any, token_lengths: list[int]) -> float:
    """6 x the multiplying parameters + 12 x layers x hidden x the token-weighted mean length."""
    config = model.config
    params = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight
    tied = model.get_output_embeddings() is not None and (
        model.get_output_embeddings().weight is embedding
    )
    multiplying = params if tied else params - embedding.numel()
    weighted_length = sum(n * n for n in token_lengths) / sum(token_lengths)
    attention = 12 * config.num_hidden_layers * config.hidden_size * weighted_length
    return 6 * multiplying + attention


class _MetaResize:
    """add_chat_tokens' view of a model on the meta device: resized without the mean
    initialisation, which reads the weights (a meta tensor has none)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def resize_token_embeddings(self, size: int) -> None:
        self.model.resize_token_embeddings(size, mean_resizing=False)


def counted(model_dir: str, records: list[dict[str, Any]]) -> tuple[float, list[Any]]:
    """FLOPs per token and the tokenized examples, from a model built on the meta device (no
    weights read: a 7B --gpu-model would be 28 GB in float32 on the CPU only to be counted)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from ablate.models.finetune import tokenized_examples
    from ablate.models.load import load_tokenizer
    from ablate.models.tokens import add_chat_tokens

    tokenizer = load_tokenizer(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    add_chat_tokens(tokenizer, _MetaResize(model))
    examples = tokenized_examples(tokenizer, records, MAX_LEN)
    return flops_per_token(model, [len(e.input_ids) for e in examples]), examples


def gpu_mfu(args: argparse.Namespace, records: list[dict[str, Any]], tmp: Path) -> None:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        print("\nMFU on a GPU: skipped, needs a CUDA GPU")
        return
    from ablate.config.schema import TrainingConfig
    from ablate.models.tiny import builtin_path, save_head64_llama

    model_dir = args.gpu_model or str(
        save_head64_llama(tmp / "gpu-llama", builtin_path("tiny"), 1024, 8, MAX_LEN)
    )
    # Enough optimizer steps that the Trainer's set-up is a small part of a run.
    records = (records * (1 + args.gpu_records // max(1, len(records))))[: args.gpu_records]
    per_token, examples = counted(model_dir, records)
    device_name = torch.cuda.get_device_name()
    peak = args.peak_tflops or peak_tflops(device_name)
    kernels = [("sdpa", False)]
    if importlib.util.find_spec("flash_attn") is not None:
        kernels.append(("flash_attention_2", True))
    print(f"\nGPU: {device_name}, peak {peak or 'unknown (--peak-tflops)'} TFLOP/s bfloat16; "
          f"{model_dir}; {len(records)} Stack Exchange examples, 1 epoch")  # fmt: skip
    print(f"{'kernel':<18} {'packed':<6} {'bare tok/s':>11} {'stage tok/s':>12} {'ratio':>6} "
          f"{'stage MFU':>10}")  # fmt: skip
    for kernel, packed in kernels:
        cfg = TrainingConfig(
            method="full", epochs=1, learning_rate=1e-5, final_learning_rate=1e-6,
            batch_size=32, micro_batch_size=args.gpu_micro_batch, max_seq_length=MAX_LEN,
            packing=packed, attn_implementation=kernel, checkpoint_every=None,
        )  # fmt: skip
        where = (model_dir, "bfloat16", "cuda")
        bare, stage = [], []  # the first run of each side also warms the GPU up: fastest kept
        for repeat in range(args.repeats):
            bare.append(bare_loop(examples, cfg, packed, where))
            stage.append(train_stage(records, cfg, tmp / f"gpu-{kernel}-{repeat}", where))
        tokens = sum(len(e.input_ids) for e in examples)
        bare_rate, stage_rate = tokens / min(bare)[0], tokens / min(stage)[0]
        mfu = f"{stage_rate * per_token / (peak * 1e12):>10.3f}" if peak else f"{'?':>10}"
        print(f"{kernel:<18} {packed!s:<6} {bare_rate:>11.0f} {stage_rate:>12.0f} "
              f"{stage_rate / bare_rate:>6.2f} {mfu}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-model", default=None, help="a local model folder for part 3")
    parser.add_argument("--gpu-micro-batch", type=int, default=8)
    parser.add_argument("--gpu-records", type=int, default=1024, help="examples per GPU run")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's bf16 peak")
    args = parser.parse_args()

    import os

    import torch

    from ablate.config.schema import TrainingConfig
    from ablate.models.load import load_tokenizer
    from ablate.models.tokens import add_chat_tokens, tokenize_record

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("ABLATE_CACHE", str(Path(tmp) / "cache"))
        pools = lima_like_pools(Path(tmp), args.records)
        tokenizer = load_tokenizer("builtin:tiny")
        from ablate.models.load import load_causal_lm

        add_chat_tokens(tokenizer, load_causal_lm("builtin:tiny", None, "float32", "cpu"))
        print("real-token fraction (share of tensor slots holding a token)")
        print(
            f"{'pool':<14} {'micro-batch':>11} {'padded':>8} {'grouped':>8} {'packed':>8}"
            "  mean tokens"
        )
        examples = {}
        for name, records in pools.items():
            tokenized = [tokenize_record(tokenizer, r, MAX_LEN) for r in records]
            examples[name] = [e for e in tokenized if e is not None]
            mean = statistics.mean(len(e.input_ids) for e in examples[name])
            for micro in (4, 8):
                pad_id = tokenizer.pad_token_id
                padded = real_token_fraction(examples[name], micro, False, pad_id)
                grouped = real_token_fraction(examples[name], micro, False, pad_id, grouped=True)
                packed = real_token_fraction(examples[name], micro, True, pad_id)
                print(
                    f"{name:<14} {micro:>11} {padded:>8.3f} {grouped:>8.3f} {packed:>8.3f}"
                    f"  {mean:.0f}"
                )

        records = pools["stackexchange"][: min(64, args.records)]
        kept = examples["stackexchange"][: len(records)]
        tokens = sum(len(e.input_ids) for e in kept)
        print(f"\ntrain stage vs bare loop: {len(records)} Stack Exchange examples, 1 epoch, CPU")
        print("(slots/s counts padding too: the ratio of tensor slots per second compares the")
        print(" same work whatever the shuffles)")
        print(
            f"{'packing':<8} {'bare tok/s':>11} {'stage tok/s':>12} {'ratio':>6} {'slot ratio':>11}"
        )
        for packed in (True, False):
            cfg = TrainingConfig(
                method="full", epochs=1, learning_rate=1e-4, final_learning_rate=1e-5,
                batch_size=8, micro_batch_size=4, max_seq_length=MAX_LEN, packing=packed,
                checkpoint_every=None,
            )  # fmt: skip
            bare, stage = [], []
            for repeat in range(args.repeats):
                bare.append(bare_loop(kept, cfg, packed))
                stage.append(train_stage(records, cfg, Path(tmp) / f"run-{packed}-{repeat}"))
            bare_s, bare_fraction = min(bare)
            stage_s, stage_fraction = min(stage)
            bare_rate, stage_rate = tokens / bare_s, tokens / stage_s
            slots = (stage_rate / stage_fraction) / (bare_rate / bare_fraction)
            print(
                f"{packed!s:<8} {bare_rate:>11.0f} {stage_rate:>12.0f} "
                f"{stage_rate / bare_rate:>6.2f} {slots:>11.2f}"
            )
        gpu_mfu(args, pools["stackexchange"][: args.records], Path(tmp))


if __name__ == "__main__":
    main()
