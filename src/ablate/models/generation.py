"""Sample K responses per evaluation prompt from a fine-tuned model (transformers), and its
held-out loss. The vLLM backend (`vllm_generation.py`) tokenizes, stops and decodes with the
helpers here, so both backends write the same Sample records."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.branching import SampleEntropy, sample_entropy
from ablate.config.schema import GenerationConfig
from ablate.models.chat import END_OF_TURN, prompt_text
from ablate.models.entropy import processors, recording_entropy
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


Response = tuple[str, int, bool]  # text, its token count, ended with a stop token


@dataclass
class DecodeMeter:
    """What sampling cost, summed over a stage's batches: `stats` is its part of stats.json."""

    new_tokens: int = 0  # each response's tokens and its stop token
    seconds: float = 0.0  # inside generate() only: loading and decoding text are not counted
    decode_slots: int = 0  # hf: rows x steps of the padded batches' generated part
    prompt_tokens: int = 0  # hf: real prompt tokens, and the slots of their left-padded batches
    prompt_slots: int = 0

    def add(self, responses: list[Response]) -> None:
        self.new_tokens += sum(n + stopped for _, n, stopped in responses)

    def stats(self) -> dict[str, float | int | None]:
        """None where a figure does not apply: vLLM schedules no finished or padded row."""
        return {
            "generation_seconds": round(self.seconds, 3),
            "generation_new_tokens": self.new_tokens,
            "generation_tokens_per_s": round(self.new_tokens / self.seconds, 1)
            if self.seconds
            else None,
            # A row that ended early waits, padded, for its batch's longest row.
            "generation_useful_slot_fraction": _ratio(self.new_tokens, self.decode_slots),
            "generation_prompt_real_fraction": _ratio(self.prompt_tokens, self.prompt_slots),
        }


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def encode_prompts(tokenizer: Any, prompts: list[str]) -> list[list[int]]:
    """Each prompt's chat-formatted token ids, unpadded (BOS first where the tokenizer has one)."""
    encoded = tokenizer(
        [prompt_text(p) for p in prompts], add_special_tokens=tokenizer.bos_token_id is not None
    )
    return [list(ids) for ids in encoded["input_ids"]]


def stop_token_ids(tokenizer: Any) -> list[int]:
    """The end-of-turn marker ends a response; eos too, for a base model that ends with it."""
    ids = [tokenizer.convert_tokens_to_ids(END_OF_TURN), tokenizer.eos_token_id]
    return [i for i in ids if i is not None]


def decode_response(tokenizer: Any, new_ids: list[int], stop_ids: list[int]) -> Response:
    """A response's text, cut at its first stop token; what follows it (padding) is dropped."""
    ended = next((i for i, t in enumerate(new_ids) if t in stop_ids), None)
    kept = new_ids if ended is None else new_ids[:ended]
    return tokenizer.decode(kept, skip_special_tokens=True).strip(), len(kept), ended is not None


def sample_records(
    prompts: list[dict[str, str]],
    responses: list[list[Response]],
    entropies: list[list[SampleEntropy]] | None = None,
) -> list[Sample]:
    """One row per (prompt, sample), in the prompts' order: responses[i] answers prompts[i];
    entropies[i][k], when given, adds sample k's entropy sums (ablate.branching)."""
    records: list[Sample] = []
    for i, (record, answers) in enumerate(zip(prompts, responses, strict=True)):
        for k, (text, n_tokens, stopped) in enumerate(answers):
            row: Sample = {
                "prompt_id": record["id"],
                "prompt": record["prompt"],
                "sample": k,
                "response": text,
                "n_tokens": n_tokens,
                "stopped": stopped,
            }
            if entropies is not None:
                row.update(entropies[i][k])
            records.append(row)
    return records


def length_order(prompt_ids: list[list[int]]) -> list[int]:
    """Prompt indices, longest first (ties in prompt order). Neighbours differ little in
    length, so a batch of them is little left padding; the longest batch runs first, so a
    batch too big for memory fails at once rather than at the end."""
    return sorted(range(len(prompt_ids)), key=lambda i: (-len(prompt_ids[i]), i))


def _left_padded(prompt_ids: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """input_ids and attention_mask, padded on the left: generation continues at the right."""
    import torch

    width = max(len(ids) for ids in prompt_ids)
    gaps = [width - len(ids) for ids in prompt_ids]
    input_ids = [[pad_id] * gap + ids for gap, ids in zip(gaps, prompt_ids, strict=True)]
    mask = [[0] * gap + [1] * len(ids) for gap, ids in zip(gaps, prompt_ids, strict=True)]
    return torch.tensor(input_ids), torch.tensor(mask)


Batch = tuple[list[list[Response]], list[list[SampleEntropy]] | None]  # per prompt, K each


def _sample_batch(
    lm: LoadedModel,
    prompt_ids: list[list[int]],
    cfg: GenerationConfig,
    seed: int,
    meter: DecodeMeter,
    branching: bool = False,
) -> Batch:
    import torch

    tokenizer = lm.tokenizer
    input_ids, mask = _left_padded(prompt_ids, tokenizer.pad_token_id)
    stop_ids = stop_token_ids(tokenizer)
    torch.manual_seed(seed)
    started = time.perf_counter()
    sampling = cfg.temperature > 0  # temperature 0: greedy (task metrics decode so)
    with torch.no_grad(), recording_entropy(lm.model, branching) as recorder:
        output = lm.model.generate(
            input_ids=input_ids.to(lm.device),
            attention_mask=mask.to(lm.device),
            do_sample=sampling,
            # Greedy ignores the sampling settings; None keeps transformers from warning so.
            temperature=cfg.temperature if sampling else None,
            top_p=cfg.top_p if sampling else None,
            # LIMA samples from the nucleus only: no top-k cut (transformers' default is 50, a
            # model's generation_config may set another), as vLLM samples by default.
            top_k=0 if sampling else None,
            repetition_penalty=cfg.repetition_penalty,
            max_new_tokens=cfg.max_new_tokens,
            num_return_sequences=cfg.samples_per_prompt,
            eos_token_id=stop_ids,
            pad_token_id=tokenizer.pad_token_id,
            logits_processor=processors(recorder),  # None: generate's default
        )
    meter.seconds += time.perf_counter() - started
    new_tokens = output[:, input_ids.shape[1] :]
    rows = [decode_response(tokenizer, seq, stop_ids) for seq in new_tokens.tolist()]
    meter.add(rows)
    meter.decode_slots += new_tokens.numel()
    meter.prompt_tokens += int(mask.sum())
    meter.prompt_slots += mask.numel()
    k = cfg.samples_per_prompt  # rows are prompt-major: each prompt's K samples in turn
    if recorder is None:
        return _batches(rows, k), None
    # A row's own positions: its tokens and its stop token, not the padding after them.
    table = recorder.rows(*new_tokens.shape)
    sums = [sample_entropy(e, n + stop) for e, (_, n, stop) in zip(table, rows, strict=True)]
    return _batches(rows, k), _batches(sums, k)


def generate_samples(
    lm: LoadedModel,
    prompts: list[dict[str, str]],
    cfg: GenerationConfig,
    seed: int,
    meter: DecodeMeter | None = None,
    branching: bool = False,
) -> list[Sample]:
    """One row per (prompt, sample), in the prompts' order. Batches of `cfg.batch_size`
    prompts of similar length (`length_order`), each prompt x samples_per_prompt rows; a
    batch's seed depends on its index in that order only, so a seed gives the same samples.
    branching: each sample also gets its entropy sums (ablate.branching); the same samples."""
    meter = meter if meter is not None else DecodeMeter()
    prompt_ids = encode_prompts(lm.tokenizer, [r["prompt"] for r in prompts])
    responses: list[list[Response]] = [[] for _ in prompts]
    entropies: list[list[SampleEntropy]] = [[] for _ in prompts]
    for index, batch in enumerate(_batches(length_order(prompt_ids), cfg.batch_size)):
        batch_ids = [prompt_ids[i] for i in batch]
        answers, sums = _sample_batch(lm, batch_ids, cfg, seed * 100_003 + index, meter, branching)
        for j, i in enumerate(batch):
            responses[i] = answers[j]
            entropies[i] = sums[j] if sums is not None else []
    return sample_records(prompts, responses, entropies if branching else None)


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
