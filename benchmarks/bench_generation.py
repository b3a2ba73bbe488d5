"""How fast the generate stage samples, against a bare `model.generate` loop on the same model,
prompts and settings; and vLLM against transformers where a GPU and vllm are present.

    python benchmarks/bench_generation.py [--prompts 32] [--samples 5] [--max-new-tokens 32]
                                          [--batch-size 8] [--repeats 2] [--gpu-model PATH]

1. CPU, the builtin tiny model: the stage's `generate_samples` (prompts sorted by length,
   batch_size prompts x samples_per_prompt rows per generate() call, cut at the stop token)
   against a bare loop (the prompts in the order given, the same batches of the same size,
   the tokenizer's padding, the same decoding settings). Prompts: LIMA's test prompts
   (../shared/data/lima_test.jsonl, evenly spaced) when there, else the synthetic eval split.
   Runs alternate (bare, stage, bare, ...) so a busy machine slows both alike; each side's
   fastest run is compared. The tiny model rarely ends a response early, so the stage's gain
   here is the prompt padding it avoids.
2. GPU with vllm installed: samples/s of the vllm backend against the hf backend on a small
   Llama (or --gpu-model, a local model folder), generate() time only, engine start apart.
   Skipped with a printed line otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

LIMA_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "lima_test.jsonl"


def lima_like_prompts(n: int) -> tuple[list[dict[str, str]], str]:
    """n prompts spread over LIMA's test set (its mix of short and long), else synthetic ones."""
    if LIMA_TEST.is_file():
        rows = [json.loads(line) for line in LIMA_TEST.read_text(encoding="utf-8").splitlines()]
        step = max(1, len(rows) // n)
        picked = rows[::step][:n]
        prompts = [{"id": f"lima-{i}", "prompt": r["conversations"]} for i, r in enumerate(picked)]
        return prompts, f"LIMA test prompts ({LIMA_TEST})"
    from ablate.data.fixtures.synthetic import synthetic_records

    records = synthetic_records(n, 11, "eval")
    return [{"id": r["id"], "prompt": r["prompt"]} for r in records], "synthetic eval prompts"


def bare_loop(lm: Any, prompts: list[dict[str, str]], cfg: Any, seed: int) -> tuple[float, float]:
    """Seconds and prompt real-token fraction of plain generate() calls over the prompts in
    the order given: the tokenizer pads, the decoding is the stage's."""
    import torch

    from ablate.models.chat import prompt_text
    from ablate.models.generation import stop_token_ids

    tokenizer = lm.tokenizer
    tokenizer.padding_side = "left"
    stops = stop_token_ids(tokenizer)
    seconds, real, slots = 0.0, 0, 0
    for index, start in enumerate(range(0, len(prompts), cfg.batch_size)):
        batch = prompts[start : start + cfg.batch_size]
        encoded = tokenizer(
            [prompt_text(p["prompt"]) for p in batch],
            return_tensors="pt",
            padding=True,
            add_special_tokens=tokenizer.bos_token_id is not None,
        )
        torch.manual_seed(seed * 100_003 + index)
        started = time.perf_counter()
        with torch.no_grad():
            output = lm.model.generate(
                **encoded, do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p,
                top_k=0, repetition_penalty=cfg.repetition_penalty,
                max_new_tokens=cfg.max_new_tokens, num_return_sequences=cfg.samples_per_prompt,
                eos_token_id=stops, pad_token_id=tokenizer.pad_token_id,
            )  # fmt: skip
        seconds += time.perf_counter() - started
        for row in output[:, encoded["input_ids"].shape[1] :].tolist():
            tokenizer.decode(row, skip_special_tokens=True)
        real += int(encoded["attention_mask"].sum())
        slots += encoded["attention_mask"].numel()
    return seconds, real / slots


def stage_sampling(lm: Any, prompts: list[dict[str, str]], cfg: Any, seed: int) -> Any:
    from ablate.models.generation import DecodeMeter, generate_samples

    meter = DecodeMeter()
    generate_samples(lm, prompts, cfg, seed, meter)
    return meter


def cpu_comparison(args: argparse.Namespace) -> None:
    import torch

    from ablate.config.schema import GenerationConfig
    from ablate.models.generation import encode_prompts, load_finetuned
    from ablate.models.tiny import builtin_path

    torch.set_num_threads(1)
    prompts, where = lima_like_prompts(args.prompts)
    cfg = GenerationConfig(
        samples_per_prompt=args.samples, max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
    )  # fmt: skip
    lm = load_finetuned(builtin_path("tiny"), "builtin:tiny", None, "float32", "cpu")
    lengths = sorted(
        len(ids) for ids in encode_prompts(lm.tokenizer, [p["prompt"] for p in prompts])
    )
    median = lengths[len(lengths) // 2]
    print(f"prompts: {len(prompts)} {where}; tiny-model tokens: median {median}, "
          f"max {lengths[-1]}")  # fmt: skip
    print(f"settings: {cfg.samples_per_prompt} samples/prompt, {cfg.max_new_tokens} new tokens, "
          f"{cfg.batch_size} prompts/batch, 1 CPU thread, {args.repeats} runs each")  # fmt: skip
    bare, stage = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(lm, prompts, cfg, 0))
        stage.append(stage_sampling(lm, prompts, cfg, 0))
    n = len(prompts) * cfg.samples_per_prompt
    bare_s, bare_real = min(bare)
    meter = min(stage, key=lambda m: m.seconds)
    stats = meter.stats()
    print(f"{'':<18} {'samples/s':>10} {'seconds':>8} {'prompt real-token fraction':>27}")
    print(f"{'bare generate()':<18} {n / bare_s:>10.2f} {bare_s:>8.2f} {bare_real:>27.3f}")
    print(f"{'generate stage':<18} {n / meter.seconds:>10.2f} {meter.seconds:>8.2f} "
          f"{stats['generation_prompt_real_fraction']:>27.3f}")  # fmt: skip
    print(f"stage / bare samples/s: {bare_s / meter.seconds:.2f}x; stage: "
          f"{stats['generation_tokens_per_s']} new tokens/s, useful decode-slot fraction "
          f"{stats['generation_useful_slot_fraction']}")  # fmt: skip


def _small_llama(folder: Path) -> Path:
    from ablate.models.tiny import builtin_path, save_head64_llama

    return save_head64_llama(folder, builtin_path("tiny"), 512, 4, 4096)


def gpu_comparison(args: argparse.Namespace, tmp: Path) -> None:
    import torch

    if not torch.cuda.is_available() or find_spec("vllm") is None:
        missing = "a CUDA GPU" if not torch.cuda.is_available() else "vllm (pip install -e .[vllm])"
        print(f"\nvLLM vs transformers: skipped, needs {missing}")
        return
    from ablate.config.schema import GenerationConfig
    from ablate.models.generation import DecodeMeter, generate_samples, load_finetuned
    from ablate.models.load import free_accelerator_memory
    from ablate.models.vllm_generation import (
        generate_with_vllm,
        served_model,
    )

    model = Path(args.gpu_model) if args.gpu_model else _small_llama(tmp / "small-llama")
    prompts, where = lima_like_prompts(300)
    cfg = GenerationConfig(samples_per_prompt=args.samples, max_new_tokens=256, batch_size=16)
    hf_meter, vllm_meter = DecodeMeter(), DecodeMeter()
    lm = load_finetuned(model, str(model), None, "bfloat16", "cuda")
    generate_samples(lm, prompts, cfg, 0, hf_meter)
    tokenizer = lm.tokenizer
    del lm
    free_accelerator_memory()
    started = time.perf_counter()
    served = served_model(model, str(model), None, tmp / "merged")
    generate_with_vllm(served, tokenizer, prompts, cfg, 0, "bfloat16", vllm_meter)
    wall = time.perf_counter() - started
    n = len(prompts) * cfg.samples_per_prompt
    print(f"\nvLLM vs transformers on {model} ({len(prompts)} {where}, {cfg.samples_per_prompt} "
          f"samples, {cfg.max_new_tokens} new tokens, bfloat16)")  # fmt: skip
    for name, meter in (("hf", hf_meter), ("vllm", vllm_meter)):
        s = meter.stats()
        print(f"{name:<5} {n / meter.seconds:>9.1f} samples/s {s['generation_tokens_per_s']:>10} "
              f"new tokens/s, useful slots {s['generation_useful_slot_fraction']}")  # fmt: skip
    print(f"vllm / hf samples/s: {hf_meter.seconds / vllm_meter.seconds:.2f}x "
          f"(vLLM engine start and sampling: {wall:.1f}s wall)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--gpu-model", default=None, help="a local model folder for part 2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("ABLATE_CACHE", str(Path(tmp) / "cache"))
        cpu_comparison(args)
        gpu_comparison(args, Path(tmp))


if __name__ == "__main__":
    main()
