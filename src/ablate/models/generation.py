"""Sample K responses per evaluation prompt from a fine-tuned model, and its held-out loss."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.config.schema import GenerationConfig
from ablate.models.chat import END_OF_TURN, prompt_text
from ablate.models.load import load_causal_lm, torch_dtype
from ablate.models.tokens import IGNORE, collate, tokenize_example
from ablate.records import HeldoutRow, Sample


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to sample from or score: its weights, its tokenizer, where it runs."""

    model: Any
    tokenizer: Any
    device: str


def load_finetuned(
    model_dir: Path, base_model: str, revision: str | None, dtype: str, device: str
) -> LoadedModel:
    """The fine-tuned model: a full model folder, or the base model plus a LoRA adapter."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base = load_causal_lm(base_model, revision, dtype, device)
        if base.get_input_embeddings().num_embeddings != len(tokenizer):
            base.resize_token_embeddings(len(tokenizer))  # the chat markers added in training
        # Merged into the base weights: generation then runs plain linear layers (unmerged
        # LoRA layers ran at 0.75x the speed); nothing is trained from here on.
        model = PeftModel.from_pretrained(base, model_dir).merge_and_unload().to(device)
    else:
        from transformers import AutoModelForCausalLM

        full: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype(dtype))
        model = full.to(device)
    model.eval()
    return LoadedModel(model, tokenizer, device)


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _sample_batch(
    lm: LoadedModel, prompts: list[str], cfg: GenerationConfig, seed: int
) -> list[list[tuple[str, int, bool]]]:
    import torch

    tokenizer = lm.tokenizer

    tokenizer.padding_side = "left"  # generation continues from the right end
    encoded = tokenizer(
        [prompt_text(p) for p in prompts],
        return_tensors="pt",
        padding=True,
        add_special_tokens=tokenizer.bos_token_id is not None,
    ).to(lm.device)
    stop_ids = [tokenizer.convert_tokens_to_ids(END_OF_TURN), tokenizer.eos_token_id]
    torch.manual_seed(seed)
    with torch.no_grad():
        output = lm.model.generate(
            **encoded,
            do_sample=cfg.temperature > 0,
            temperature=cfg.temperature if cfg.temperature > 0 else None,
            top_p=cfg.top_p,
            repetition_penalty=cfg.repetition_penalty,
            max_new_tokens=cfg.max_new_tokens,
            num_return_sequences=cfg.samples_per_prompt,
            eos_token_id=stop_ids,
            pad_token_id=tokenizer.pad_token_id,
        )
    new_tokens = output[:, encoded["input_ids"].shape[1] :]
    rows = []
    for seq in new_tokens.tolist():
        ended = next((i for i, t in enumerate(seq) if t in stop_ids), None)
        kept = seq if ended is None else seq[:ended]
        rows.append(
            (tokenizer.decode(kept, skip_special_tokens=True).strip(), len(kept), ended is not None)
        )
    k = cfg.samples_per_prompt
    return [rows[i * k : (i + 1) * k] for i in range(len(prompts))]


def generate_samples(
    lm: LoadedModel, prompts: list[dict[str, str]], cfg: GenerationConfig, seed: int
) -> list[Sample]:
    """One row per (prompt, sample); a batch's seed depends on its index only (reproducible)."""
    samples: list[Sample] = []
    for index, batch in enumerate(_batches(prompts, cfg.batch_size)):
        texts = [r["prompt"] for r in batch]
        outputs = _sample_batch(lm, texts, cfg, seed * 100_003 + index)
        for record, responses in zip(batch, outputs, strict=True):
            for k, (text, n_tokens, stopped) in enumerate(responses):
                samples.append(
                    {
                        "prompt_id": record["id"],
                        "prompt": record["prompt"],
                        "sample": k,
                        "response": text,
                        "n_tokens": n_tokens,
                        "stopped": stopped,
                    }
                )
    return samples


def heldout_losses(
    lm: LoadedModel, records: list[dict[str, str]], max_len: int, batch_size: int
) -> list[HeldoutRow]:
    """Per evaluation prompt with a reference response: the summed loss over the response's
    tokens and their count (the held-out loss's interval resamples prompts from these)."""
    import torch

    examples = [
        (r["id"], tokenize_example(lm.tokenizer, r["prompt"], r["response"], max_len))
        for r in records
        if "response" in r
    ]
    usable = [(pid, e) for pid, e in examples if e is not None]
    rows: list[HeldoutRow] = []
    for batch in _batches(usable, batch_size):
        tensors = {
            k: v.to(lm.device)
            for k, v in collate([e for _, e in batch], lm.tokenizer.pad_token_id).items()
        }
        with torch.no_grad():
            logits = lm.model(
                input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]
            ).logits
        labels = tensors["labels"][:, 1:]  # token t is predicted at position t-1
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), labels, ignore_index=IGNORE, reduction="none"
        )
        sums, counts = losses.sum(dim=1).tolist(), (labels != IGNORE).sum(dim=1).tolist()
        rows += [
            {"prompt_id": pid, "loss_sum": total, "tokens": int(n)}
            for (pid, _), total, n in zip(batch, sums, counts, strict=True)
        ]
    return rows


def heldout_loss(rows: list[HeldoutRow]) -> float | None:
    """Mean loss per response token over all prompts; None without reference responses."""
    tokens = sum(r["tokens"] for r in rows)
    return sum(r["loss_sum"] for r in rows) / tokens if tokens else None
