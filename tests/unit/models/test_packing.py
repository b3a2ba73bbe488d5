"""Padding-free batches on the tiny model (forward passes only): the packed loss is the padded
loss, the examples stay apart, and the real-token fraction is counted; length-grouped steps
pad less than the random order and hold the same examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.models.packing import (
    LengthGroupedSteps,
    TrainingBatches,
    respects_boundaries,
    step_sorted_order,
)
from ablate.models.tokens import IGNORE, Example


@pytest.fixture(scope="module")
def tiny(tiny_cache: Path) -> tuple[Any, Any]:
    from ablate.models.load import load_causal_lm, load_tokenizer
    from ablate.models.tokens import add_chat_tokens

    tokenizer = load_tokenizer("builtin:tiny", None)
    model = load_causal_lm("builtin:tiny", None, "float32", "cpu")
    add_chat_tokens(tokenizer, model)
    return model.eval(), tokenizer


def _examples(tokenizer: Any) -> list[Example]:
    from ablate.data.fixtures.synthetic import synthetic_records
    from ablate.models.tokens import tokenize_record

    records = synthetic_records(4, seed=7)
    examples = [
        tokenize_record(tokenizer, r, n) for r, n in zip(records, (96, 71, 53, 80), strict=True)
    ]
    assert all(e is not None for e in examples)
    kept = [e for e in examples if e is not None]
    assert len({len(e.input_ids) for e in kept}) > 1, "lengths must differ for padding to exist"
    return kept


def _loss(model: Any, batch: dict[str, Any]) -> float:
    import torch

    with torch.no_grad():
        return float(model(**batch).loss)


def test_the_packed_loss_is_the_padded_loss(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    examples = _examples(tokenizer)
    padded = TrainingBatches(tokenizer.pad_token_id, packed=False)(examples)
    packed = TrainingBatches(tokenizer.pad_token_id, packed=True)(examples)
    assert packed["input_ids"].shape == (1, sum(len(e.input_ids) for e in examples))
    learned = int((padded["labels"][:, 1:] != IGNORE).sum())
    assert int((packed["labels"][:, 1:] != IGNORE).sum()) == learned, "the same tokens learned"
    assert _loss(model, packed) == pytest.approx(_loss(model, padded), rel=1e-5)


def test_without_restarting_positions_the_examples_would_mix(tiny: tuple[Any, Any]) -> None:
    """The control that shows the test above can fail: the same row with positions running on
    (examples attending to earlier ones) gives another loss."""
    import torch

    model, tokenizer = tiny
    examples = _examples(tokenizer)
    packed = TrainingBatches(tokenizer.pad_token_id, packed=True)(examples)
    padded = TrainingBatches(tokenizer.pad_token_id, packed=False)(examples)
    mixed = dict(packed, position_ids=torch.arange(packed["input_ids"].shape[1]).unsqueeze(0))
    assert abs(_loss(model, mixed) - _loss(model, padded)) > 1e-3


def test_the_real_token_fraction_counts_padding(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    a = Example([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [IGNORE] * 5 + [6, 7, 8, 9, 10])
    b = Example([1, 2, 3, 4], [IGNORE, IGNORE, 3, 4])
    padded = TrainingBatches(tokenizer.pad_token_id, packed=False)
    padded([a, b])
    padded([b])
    assert padded.real_token_fraction == pytest.approx((14 + 4) / (20 + 4))
    packed = TrainingBatches(tokenizer.pad_token_id, packed=True)
    packed([a, b])
    assert packed.real_token_fraction == 1.0
    assert TrainingBatches(0, packed=True).real_token_fraction is None


def test_the_tiny_model_keeps_packed_examples_apart(tiny: tuple[Any, Any]) -> None:
    assert respects_boundaries(tiny[0], "cpu")


class _RunningMean:
    """A stand-in model whose output at each position mixes every earlier token, whatever
    the position ids say: the kind of attention packing must not be used with (injected: no
    such architecture ships in this environment)."""

    training = False

    def eval(self) -> _RunningMean:
        return self

    def train(self, mode: bool = True) -> _RunningMean:
        return self

    def __call__(self, input_ids: Any, **kwargs: Any) -> Any:
        import torch

        values = input_ids.float().unsqueeze(-1).repeat(1, 1, 4)
        steps = torch.arange(1, input_ids.shape[1] + 1).view(1, -1, 1)
        return type("Out", (), {"logits": values.cumsum(1) / steps})()


def test_a_model_that_mixes_packed_examples_is_caught() -> None:
    assert not respects_boundaries(_RunningMean(), "cpu")


def test_by_default_only_flash_attention_packs(tiny: tuple[Any, Any]) -> None:
    """SDPA and eager attention mask a packed row as a whole (cost grows with the row's
    square): null packs only with flash-attention's per-example kernels; true and false are
    obeyed, true still only for a model that keeps examples apart."""
    from types import SimpleNamespace

    from ablate.models.packing import packing_pays, use_packing

    model = tiny[0]
    assert model.config._attn_implementation == "sdpa"
    assert not packing_pays(model) and not use_packing(None, model, "cpu")
    assert use_packing(True, model, "cpu") and not use_packing(False, model, "cpu")
    flash = SimpleNamespace(config=SimpleNamespace(_attn_implementation="flash_attention_2"))
    assert packing_pays(flash)
    assert not use_packing(True, _RunningMean(), "cpu")


# --- length-grouped steps ---------------------------------------------------------------------

# A fixed, LIMA-like spread of lengths (a long tail), 10 optimizer steps of 32 and a last of 20.
LENGTHS = [int(40 * 1.6 ** ((7 * i) % 11)) % 2048 + 20 for i in range(340)]
STEP, MICRO = 32, 4


def _real_token_fraction(order: list[int], micro: int) -> float:
    batches = [[LENGTHS[i] for i in order[k : k + micro]] for k in range(0, len(order), micro)]
    return sum(map(sum, batches)) / sum(max(b) * len(b) for b in batches)


def _steps(order: list[int]) -> list[set[int]]:
    return [set(order[k : k + STEP]) for k in range(0, len(order), STEP)]


def test_step_sorted_order_sorts_within_each_step_only() -> None:
    order = [5, 0, 3, 1, 4, 2, 6]
    lengths = [30, 10, 20, 30, 50, 40, 5]
    assert step_sorted_order(order, lengths, 3) == [5, 0, 3, 4, 2, 1, 6]  # ties keep order's


def test_length_grouped_steps_pad_less_than_the_random_order() -> None:
    import torch

    sampler = LengthGroupedSteps(LENGTHS, STEP, seed=3)
    random_order = torch.randperm(len(LENGTHS), generator=torch.Generator().manual_seed(3))
    grouped = _real_token_fraction(list(sampler), MICRO)
    assert grouped > _real_token_fraction(random_order.tolist(), MICRO) + 0.05


@pytest.mark.parametrize("epoch", [0, 1, 4])
def test_length_grouped_steps_draw_each_example_once_per_epoch(epoch: int) -> None:
    sampler = LengthGroupedSteps(LENGTHS, STEP, seed=3)
    sampler.set_epoch(epoch)
    order = list(sampler)
    assert len(sampler) == len(order) == len(LENGTHS)
    assert sorted(order) == list(range(len(LENGTHS)))
    for k in range(0, len(order), STEP):
        step = [LENGTHS[i] for i in order[k : k + STEP]]
        assert step == sorted(step, reverse=True)


def test_length_grouped_steps_are_fixed_by_the_seed_and_the_epoch() -> None:
    def drawn(seed: int, epoch: int) -> list[int]:
        sampler = LengthGroupedSteps(LENGTHS, STEP, seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert drawn(3, 1) == drawn(3, 1)
    assert list(LengthGroupedSteps(LENGTHS, STEP, 3)) == drawn(3, 0)
    # accelerate seeds epoch e with data_seed + e (seed 4's epoch 0 is seed 3's epoch 1).
    assert len({tuple(drawn(3, 0)), tuple(drawn(3, 1)), tuple(drawn(5, 0))}) == 3


@pytest.mark.parametrize("epoch", [0, 2])
def test_length_grouped_steps_hold_the_trainers_random_steps(epoch: int) -> None:
    """The Trainer draws its random order through accelerate's SeedableRandomSampler (seeded
    with data_seed): each length-grouped step holds the examples of that order's step."""
    from accelerate.data_loader import SeedableRandomSampler

    trainers = SeedableRandomSampler(range(len(LENGTHS)), data_seed=3)
    trainers.set_epoch(epoch)
    grouped = LengthGroupedSteps(LENGTHS, STEP, seed=3)
    grouped.set_epoch(epoch)
    assert _steps(list(grouped)) == _steps(list(trainers))
