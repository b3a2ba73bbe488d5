"""The transformers backend batches prompts by length and hands the samples back in the
prompts' order: per prompt, the samples a bare generate() loop over the same batches draws,
with the same fields. Inference only, on the builtin tiny model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import GenerationConfig
from ablate.models.generation import (
    DecodeMeter,
    LoadedModel,
    encode_prompts,
    generate_samples,
    length_order,
    load_finetuned,
    stop_token_ids,
)
from tests.support.bare_generate import bare_generate

SAMPLE_KEYS = {"prompt_id", "prompt", "sample", "response", "n_tokens", "stopped"}
GEN = GenerationConfig(samples_per_prompt=3, max_new_tokens=6, batch_size=2)
SEED = 7
SENTENCE = "why does the sky look blue at noon but red at dusk over a calm sea"


@pytest.fixture(scope="module")
def lm(tiny_cache: Path) -> LoadedModel:
    return load_finetuned(tiny_cache, "builtin:tiny", None, "float32", "cpu")


def _prompts() -> list[dict[str, str]]:
    """Prompts of distinct lengths (prefixes of one sentence), given out of length order."""
    words = SENTENCE.split()
    counts = [3, 12, 1, 7, 5, 9, 2]
    return [{"id": f"p{i}", "prompt": " ".join(words[:n])} for i, n in enumerate(counts)]


def _bare_loop(lm: LoadedModel, prompts: list[dict[str, str]]) -> dict[tuple[str, int], Any]:
    """generate() on the length-sorted batches with the tokenizer's own left padding:
    (prompt id, sample) -> (response, n_tokens, stopped)."""

    tokenizer = lm.tokenizer
    lengths = [len(ids) for ids in encode_prompts(tokenizer, [p["prompt"] for p in prompts])]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    stops = stop_token_ids(tokenizer)
    tokenizer.padding_side = "left"
    found = {}
    for index, start in enumerate(range(0, len(order), GEN.batch_size)):
        batch = [prompts[i] for i in order[start : start + GEN.batch_size]]
        width, output = bare_generate(lm, batch, GEN, SEED * 100_003 + index, stops)
        rows = output[:, width:].tolist()
        for row, seq in enumerate(rows):
            cut = next((i for i, t in enumerate(seq) if t in stops), len(seq))
            text = tokenizer.decode(seq[:cut], skip_special_tokens=True).strip()
            prompt = batch[row // GEN.samples_per_prompt]["id"]
            found[(prompt, row % GEN.samples_per_prompt)] = (text, cut, cut < len(seq))
    return found


def test_length_order_is_longest_first_and_ties_keep_prompt_order() -> None:
    assert length_order([[1], [1, 2, 3], [1, 2], [4, 5, 6], []]) == [1, 3, 2, 0, 4]
    assert length_order([]) == []


def test_the_prompts_have_distinct_lengths(lm: LoadedModel) -> None:
    lengths = [len(ids) for ids in encode_prompts(lm.tokenizer, [p["prompt"] for p in _prompts()])]
    assert len(set(lengths)) == len(lengths)  # else the batches below would depend on ties


def test_samples_come_back_in_prompt_order_as_a_bare_loop_draws_them(lm: LoadedModel) -> None:
    prompts = _prompts()
    samples = generate_samples(lm, prompts, GEN, SEED)
    k = GEN.samples_per_prompt
    assert [(s["prompt_id"], s["sample"]) for s in samples] == [
        (p["id"], j) for p in prompts for j in range(k)
    ]
    texts = {p["id"]: p["prompt"] for p in prompts}
    assert all(set(s) == SAMPLE_KEYS and s["prompt"] == texts[s["prompt_id"]] for s in samples)
    expected = _bare_loop(lm, prompts)
    got = {
        (s["prompt_id"], s["sample"]): (s["response"], s["n_tokens"], s["stopped"]) for s in samples
    }
    assert got == expected


def test_a_prompts_samples_do_not_depend_on_the_order_prompts_come_in(lm: LoadedModel) -> None:
    """The batches are made by length, so reversing the list draws the same samples."""
    prompts = _prompts()
    forward = generate_samples(lm, prompts, GEN, SEED)
    backward = generate_samples(lm, prompts[::-1], GEN, SEED)
    assert sorted(forward, key=lambda s: (s["prompt_id"], s["sample"])) == sorted(
        backward, key=lambda s: (s["prompt_id"], s["sample"])
    )
    assert [s["prompt_id"] for s in backward][:: GEN.samples_per_prompt] == [
        p["id"] for p in prompts[::-1]
    ]


def test_the_meter_counts_new_tokens_and_slots(lm: LoadedModel) -> None:
    prompts = _prompts()
    meter = DecodeMeter()
    samples = generate_samples(lm, prompts, GEN, SEED, meter)
    stats = meter.stats()
    assert stats["generation_new_tokens"] == sum(s["n_tokens"] + s["stopped"] for s in samples)
    assert meter.seconds > 0 and stats["generation_tokens_per_s"] is not None
    useful = stats["generation_useful_slot_fraction"]
    assert useful is not None and 0 < useful <= 1
    # Prompt slots: sorted batches of these lengths hold more real tokens than batches in the
    # order given would.
    lengths = [len(ids) for ids in encode_prompts(lm.tokenizer, [p["prompt"] for p in prompts])]

    def real_fraction(order: list[int]) -> float:
        batches = [order[i : i + GEN.batch_size] for i in range(0, len(order), GEN.batch_size)]
        slots = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        return sum(lengths) / slots

    sorted_fraction = real_fraction(length_order([[0] * n for n in lengths]))
    assert stats["generation_prompt_real_fraction"] == pytest.approx(sorted_fraction, abs=1e-4)
    assert sorted_fraction > real_fraction(list(range(len(prompts))))
