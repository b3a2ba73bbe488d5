"""Each sample's next-token entropies, captured while transformers samples (ablate.models.entropy):
the entropy of toy distributions by hand, the same samples with capture on or off, and, on the
builtin tiny model, sums equal to those from transformers' own raw logits cut at each row's
stop token. Inference only."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from ablate.branching import ENTROPY_FIELDS, FIRST_POSITIONS, branching_metrics
from ablate.config.schema import GenerationConfig
from ablate.models import generation
from ablate.models.entropy import next_token_entropy
from ablate.models.generation import (
    LoadedModel,
    encode_prompts,
    generate_samples,
    length_order,
    load_finetuned,
)
from tests.support.bare_generate import bare_generate

GEN = GenerationConfig(samples_per_prompt=2, max_new_tokens=8, batch_size=4)
SEED = 5
PROMPTS = [
    {"id": f"p{i}", "prompt": text}
    for i, text in enumerate(
        ["why is the sky blue", "name three rivers", "how do I boil an egg well at altitude"]
    )
]


@pytest.fixture(scope="module")
def lm(tiny_cache: Path) -> LoadedModel:
    return load_finetuned(tiny_cache, "builtin:tiny", None, "float32", "cpu")


def test_entropy_of_toy_distributions() -> None:
    import torch

    uniform4 = torch.zeros(1, 4)  # equal logits: uniform over 4 tokens
    assert next_token_entropy(uniform4).item() == pytest.approx(math.log(4))
    # A masked token (-inf) adds nothing: uniform over the other two.
    masked = torch.tensor([[0.0, 0.0, -math.inf]])
    assert next_token_entropy(masked).item() == pytest.approx(math.log(2))
    # Two steps, (1/2, 1/4, 1/4) then (1/2, 1/2): entropies 1.5 ln 2 and ln 2, so the
    # branching factor exp(mean) = 2 ** 1.25.
    steps = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.5, 0.0]]))
    entropies = next_token_entropy(steps)
    assert entropies.tolist() == pytest.approx([1.5 * math.log(2), math.log(2)])
    assert math.exp(entropies.mean().item()) == pytest.approx(2**1.25)


def _without_entropy(samples: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.items() if k not in ENTROPY_FIELDS} for s in samples]


def test_capturing_entropies_leaves_the_samples_as_they_were(lm: LoadedModel) -> None:
    plain = generate_samples(lm, PROMPTS, GEN, SEED)
    captured = generate_samples(lm, PROMPTS, GEN, SEED, branching=True)
    assert all(not set(ENTROPY_FIELDS) & set(s) for s in plain)
    assert all(set(ENTROPY_FIELDS) <= set(s) for s in captured)
    assert _without_entropy(captured) == plain


def _reference_sums(lm: LoadedModel, stops: list[int]) -> dict[str, list[float]]:
    """Per prompt, each sample's entropy sum from generate()'s raw logits (output_logits),
    over its positions up to and including its first stop token."""
    import torch

    order = length_order(encode_prompts(lm.tokenizer, [p["prompt"] for p in PROMPTS]))
    batch = [PROMPTS[i] for i in order]  # one batch: every prompt fits in GEN.batch_size
    # The first batch's seed; each step's raw logits too.
    width, out = bare_generate(lm, batch, GEN, SEED * 100_003, stops,
                               output_logits=True, return_dict_in_generate=True)  # fmt: skip
    entropies = next_token_entropy(torch.stack(out.logits, dim=1))  # rows x steps
    new = out.sequences[:, width:].tolist()
    sums: dict[str, list[float]] = {p["id"]: [] for p in batch}
    for row, ids in enumerate(new):
        end = next((t + 1 for t, token in enumerate(ids) if token in stops), len(ids))
        sums[batch[row // GEN.samples_per_prompt]["id"]].append(float(entropies[row, :end].sum()))
    return sums


def test_sums_equal_those_of_the_raw_logits_up_to_each_rows_stop(
    lm: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third of the vocabulary stops a response, so rows end early at different steps and the
    batch runs on padded after them: the sums must stop at each row's own stop token."""
    stops = list(range(len(lm.tokenizer) // 3))
    monkeypatch.setattr(generation, "stop_token_ids", lambda tokenizer: stops)
    samples = generate_samples(lm, PROMPTS, GEN, SEED, branching=True)
    assert any(s["stopped"] for s in samples) and len({s["n_tokens"] for s in samples}) > 1
    for s in samples:
        assert s["entropy_tokens"] == s["n_tokens"] + s["stopped"]
        assert s["entropy_first_tokens"] == min(s["entropy_tokens"], FIRST_POSITIONS)
    expected = _reference_sums(lm, stops)
    for prompt_id, sums in expected.items():
        got = [s["entropy_sum"] for s in samples if s["prompt_id"] == prompt_id]
        assert got == pytest.approx(sums, rel=1e-5)


def test_the_tiny_models_branching_factor_lies_within_its_vocabulary(lm: LoadedModel) -> None:
    samples = generate_samples(lm, PROMPTS, GEN, SEED, branching=True)
    metrics = branching_metrics(samples, 0.95, 200, 0)
    vocabulary = lm.model.get_output_embeddings().weight.shape[0]
    for name in ("branching_factor", "branching_factor_first"):
        assert 1.0 <= metrics[f"{name}_ci_low"] <= metrics[name] <= metrics[f"{name}_ci_high"]
        assert metrics[f"{name}_ci_high"] <= vocabulary
    assert metrics["branching_prompts"] == len(PROMPTS)
