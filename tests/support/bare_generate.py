"""The reference the generate stage is checked against: one plain `model.generate()` call on a
batch of prompts, padded on the left by the tokenizer itself, with the stage's decoding
settings (nucleus sampling, no top-k cut) and its seed. It shares no code with the stage."""

from __future__ import annotations

from typing import Any

from ablate.config.schema import GenerationConfig
from ablate.models.chat import prompt_text
from ablate.models.generation import LoadedModel


def bare_generate(
    lm: LoadedModel,
    batch: list[dict[str, str]],
    gen: GenerationConfig,
    seed: int,
    stops: list[int],
    **extra: Any,
) -> tuple[int, Any]:
    """The batch's padded prompt width and generate()'s output (`extra`: more of its options)."""
    import torch

    tokenizer = lm.tokenizer
    tokenizer.padding_side = "left"
    encoded = tokenizer(
        [prompt_text(p["prompt"]) for p in batch],
        return_tensors="pt",
        padding=True,
        add_special_tokens=tokenizer.bos_token_id is not None,
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        output = lm.model.generate(
            **encoded,
            do_sample=True,
            temperature=gen.temperature,
            top_p=gen.top_p,
            top_k=0,
            repetition_penalty=gen.repetition_penalty,
            max_new_tokens=gen.max_new_tokens,
            num_return_sequences=gen.samples_per_prompt,
            eos_token_id=stops,
            pad_token_id=tokenizer.pad_token_id,
            **extra,
        )
    return int(encoded["input_ids"].shape[1]), output
