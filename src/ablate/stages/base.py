"""The base model, measured once per sweep (evaluation.measure_base): its samples of the
evaluation prompts and their branching factor (ablate.branching), the point the tuned
models' branching factors are read against.

Not a trial stage: it depends on no data arm, so it runs once, before the trials, into a
folder of its own: samples.jsonl, then base.json (its metrics with their intervals, and its
key). The key hashes what changes the result (the model, the generation settings, the
evaluation prompts, the interval settings, the code), so a done measurement is skipped and
a changed one redone.

The base model is loaded as training loads it (ablate.models.finetune.prepare_model): the
tokenizer and model by the same names, and the chat markers it lacks added with the rows
resizing draws (seeded here). It then reads the very token ids the tuned models read: it is
the curve's model at 0 examples. Always sampled with transformers, seed 0: the vllm backend
gives no branching factor (it returns only the top log-probabilities)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate.config.schema import Config, ModelConfig
from ablate.files import atomic_write_json, atomic_write_text, read_json_object, stable_hash

if TYPE_CHECKING:
    from ablate.models.generation import LoadedModel

BASE_VERSION = 1  # bump when measuring changes its output, so old measurements are redone
BASE_FILE = "base.json"
SAMPLES = "samples.jsonl"
SEED = 0


def base_key(config: Config) -> str:
    """What the base measurement depends on (pool_key reads the prompts' source files' sizes
    and edges, as the plan's evaluation fingerprint does)."""
    from ablate.data.pools import pool_key
    from ablate.models.chat import TEMPLATE_VERSION
    from ablate.models.tiny import builtin_version
    from ablate.stages import stage_versions

    e = config.evaluation
    code = [BASE_VERSION, stage_versions()["generate"], TEMPLATE_VERSION]
    model = [asdict(config.model), builtin_version(config.model.name_or_path)]
    prompts = [pool_key(e.prompts), e.max_prompts]
    intervals = [e.confidence, e.bootstrap_resamples]
    return stable_hash([code, model, asdict(config.generation), prompts, intervals])


def done_base(out_dir: Path, key: str) -> dict[str, Any] | None:
    """base.json's content when it was written under `key`; None when missing, damaged or
    measured under other settings."""
    found, _ = read_json_object(out_dir / BASE_FILE)
    return found if found is not None and found.get("key") == key else None


def load_base(model: ModelConfig, device: str) -> LoadedModel:
    """The base model with the chat markers added as training adds them; the rows resizing
    draws for them are seeded, so a measurement is repeatable."""
    import torch

    from ablate.models.generation import LoadedModel
    from ablate.models.load import load_causal_lm, load_tokenizer
    from ablate.models.tokens import add_chat_tokens

    tokenizer = load_tokenizer(model.name_or_path, model.revision)
    lm = load_causal_lm(model.name_or_path, model.revision, model.dtype, device)
    torch.manual_seed(SEED)
    add_chat_tokens(tokenizer, lm)
    lm.eval()
    return LoadedModel(lm, tokenizer, device)


def measure_base(config: Config, out_dir: Path, device: str) -> dict[str, Any]:
    """Sample the evaluation prompts from the base model with the sweep's generation settings
    (seed 0) and write out_dir/samples.jsonl, then out_dir/base.json (atomically, base.json
    last: it marks the measurement done). Returns base.json's content: branching_factor,
    branching_factor_first and their _ci_low/_ci_high (as the score stage names them), the
    samples' length figures, the generation figures and the key. A measurement already done
    under the same key is returned as it is, not redone."""
    from ablate.branching import branching_metrics
    from ablate.data.sources import evaluation_records
    from ablate.models.generation import DecodeMeter, generate_samples
    from ablate.models.load import free_accelerator_memory
    from ablate.stages.score import sample_metrics

    key = base_key(config)
    done = done_base(out_dir, key)
    if done is not None:
        return done
    e = config.evaluation
    prompts = evaluation_records(e.prompts, e.max_prompts)
    lm = load_base(config.model, device)
    meter = DecodeMeter()
    samples = generate_samples(lm, prompts, config.generation, SEED, meter, branching=True)
    del lm
    free_accelerator_memory()  # for the trials after it, when it ran in their worker
    result = {
        "key": key,
        "model": config.model.name_or_path,
        "revision": config.model.revision,
        "eval_prompts": len(prompts),
        **branching_metrics(samples, e.confidence, e.bootstrap_resamples, SEED),
        **sample_metrics(samples),
        **meter.stats(),
    }
    lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    atomic_write_text(out_dir / SAMPLES, lines)
    atomic_write_json(out_dir / BASE_FILE, result)
    return result
