"""Sampling with vLLM (`generation.backend: vllm`): the same Sample records as the transformers
backend, from one engine per trial. vllm is imported inside the functions only, so the package
works without it (`pip install -e ".[vllm]"` on the GPU machines).

What the engine serves (`served_model`):
- a full fine-tune: its saved model folder;
- a LoRA adapter: the base model, with the adapter as a LoRARequest (enable_lora,
  max_lora_rank from the adapter's rank);
- a LoRA adapter that also trained whole token rows (the chat markers added to a base that
  lacked them: peft's trainable_token_indices) or whole modules (modules_to_save), or whose
  rank is above vLLM's largest: the adapter merged into the base, saved to a scratch folder.
  vLLM's LoRA adds low-rank updates to linear layers only, and it no longer takes extra
  vocabulary (lora_extra_vocab_size is gone), so new embedding rows cannot ride on a LoRARequest.

Prompts go in as token ids encoded as the transformers backend encodes them, and responses
are cut and decoded by the same helpers, so the two backends differ only in the sampling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.config.schema import GenerationConfig
from ablate.files import read_json
from ablate.models.generation import (
    DecodeMeter,
    LoadedModel,
    Response,
    decode_response,
    encode_prompts,
    sample_records,
    stop_token_ids,
)
from ablate.models.load import local_path
from ablate.records import Sample

# The values vLLM accepts for max_lora_rank (its LoRAConfig): an adapter's rank is rounded up.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
ADAPTER_NAME = "finetuned"  # one adapter per engine: its name and id only need to be fixed


@dataclass(frozen=True)
class ServedModel:
    """What the vLLM engine loads: a model (folder or hub id), and a LoRA adapter on it or none."""

    model: str
    revision: str | None
    tokenizer: str
    adapter: str | None = None  # a LoRA adapter folder, served as a LoRARequest
    max_lora_rank: int | None = None
    merged: bool = False  # the caller first saves the merged model to `model` (write_merged)


def _adapter_rank(adapter: dict[str, Any]) -> int:
    """The largest rank of any layer: peft's `r`, or a per-layer `rank_pattern` above it."""
    per_layer = (adapter.get("rank_pattern") or {}).values()
    return max([int(adapter.get("r") or 0), *(int(r) for r in per_layer)])


def _lora_layers_only(adapter: dict[str, Any]) -> bool:
    return not adapter.get("trainable_token_indices") and not adapter.get("modules_to_save")


def served_model(
    model_dir: Path, base_model: str, revision: str | None, scratch: Path
) -> ServedModel:
    """model_dir: the train stage's model folder; scratch: where a merged model would go."""
    adapter_file = model_dir / "adapter_config.json"
    if not adapter_file.is_file():
        return ServedModel(str(model_dir), None, str(model_dir))
    adapter = read_json(adapter_file)
    rank = _adapter_rank(adapter)
    if _lora_layers_only(adapter) and rank <= VLLM_LORA_RANKS[-1]:
        slot = next(r for r in VLLM_LORA_RANKS if r >= rank)
        # The adapter folder's tokenizer: the base's vocabulary (no token was added) and the
        # chat template saved in training.
        return ServedModel(local_path(base_model), revision, str(model_dir), str(model_dir), slot)
    return ServedModel(str(scratch), None, str(scratch), merged=True)


def write_merged(lm: LoadedModel, folder: Path) -> None:
    """The transformers model (load_finetuned merged the adapter) and its tokenizer, saved for
    vLLM to load as a plain model."""
    lm.model.save_pretrained(folder, safe_serialization=True)
    lm.tokenizer.save_pretrained(folder)


def sampling_params(cfg: GenerationConfig, seed: int, stop_ids: list[int]) -> Any:
    """LIMA's decoding (section 4.1), K samples of one prompt from its own seed."""
    from vllm import SamplingParams

    return SamplingParams(
        n=cfg.samples_per_prompt,
        temperature=cfg.temperature,  # 0 is greedy, as do_sample=False in the hf backend
        top_p=cfg.top_p,
        repetition_penalty=cfg.repetition_penalty,
        max_tokens=cfg.max_new_tokens,
        seed=seed,
        stop_token_ids=stop_ids,
    )


def lora_request(served: ServedModel) -> Any | None:
    if served.adapter is None:
        return None
    from vllm.lora.request import LoRARequest

    return LoRARequest(ADAPTER_NAME, 1, served.adapter)


def _engine(served: ServedModel, dtype: str, seed: int) -> Any:
    from vllm import LLM

    lora: dict[str, Any] = {}
    if served.adapter is not None:
        lora = {"enable_lora": True, "max_lora_rank": served.max_lora_rank, "max_loras": 1}
    return LLM(
        model=served.model,
        tokenizer=served.tokenizer,
        revision=served.revision,
        dtype=dtype,
        seed=seed,
        **lora,
    )


def _run_engine(
    served: ServedModel, dtype: str, seed: int, prompts: list[dict[str, Any]], params: list[Any]
) -> tuple[list[Any], float]:
    """The engine's outputs (in prompt order) and the seconds generate() took. The engine
    lives only in this function: its memory is released when it returns."""
    llm = _engine(served, dtype, seed)
    started = time.perf_counter()
    outputs = llm.generate(prompts, params, lora_request=lora_request(served), use_tqdm=False)
    seconds = time.perf_counter() - started
    del llm
    try:
        from vllm.distributed import cleanup_dist_env_and_memory
    except ImportError:  # an older vLLM: dropping the engine is all there is
        return list(outputs), seconds
    cleanup_dist_env_and_memory()  # never shutdown_ray: the trial runs inside a Ray worker
    return list(outputs), seconds


def _responses(tokenizer: Any, output: Any, stop_ids: list[int]) -> list[Response]:
    """One prompt's K completions, in sample order, cut at the first stop token."""
    rows = []
    for completion in sorted(output.outputs, key=lambda c: c.index):
        text, n_tokens, stopped = decode_response(tokenizer, list(completion.token_ids), stop_ids)
        # finish_reason "stop": ended by a stop token, whether or not the ids carry it.
        rows.append((text, n_tokens, stopped or completion.finish_reason == "stop"))
    return rows


def generate_with_vllm(
    served: ServedModel,
    tokenizer: Any,
    prompts: list[dict[str, str]],
    cfg: GenerationConfig,
    seed: int,
    dtype: str,
    meter: DecodeMeter | None = None,
) -> list[Sample]:
    """One row per (prompt, sample), in the prompts' order, as `generate_samples` writes.
    Prompt i samples from seed * 100_003 + i: its samples do not depend on the other prompts
    the engine batches it with."""
    meter = meter if meter is not None else DecodeMeter()
    stop_ids = stop_token_ids(tokenizer)
    prompt_ids = encode_prompts(tokenizer, [r["prompt"] for r in prompts])
    params = [sampling_params(cfg, seed * 100_003 + i, stop_ids) for i in range(len(prompts))]
    inputs = [{"prompt_token_ids": ids} for ids in prompt_ids]
    outputs, seconds = _run_engine(served, dtype, seed, inputs, params)
    if len(outputs) != len(prompts):
        raise RuntimeError(f"vLLM answered {len(outputs)} of {len(prompts)} prompts")
    responses = [_responses(tokenizer, output, stop_ids) for output in outputs]
    meter.seconds += seconds
    for answers in responses:
        meter.add(answers)
    return sample_records(prompts, responses)
