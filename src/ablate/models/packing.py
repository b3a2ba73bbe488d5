"""Padding-free training batches: a micro-batch's examples laid end to end in one row, with
position ids that restart at each example (transformers' DataCollatorWithFlattening), so no
slot of the tensor is padding. transformers' attention masks read the restarts and keep each
example from attending to another (masking_utils.find_packed_sequence_indices); the first
label of each example is ignored, so no example learns to predict the next one's start. The
loss covers the same response tokens as a padded batch: the same number, within float
tolerance (tests/integration/test_fine_tune.py).

A model whose attention ignores the restarts would silently mix examples, so packing is used
only after `respects_boundaries` shows on the model itself that a packed example's logits are
its own.

Padded batches waste less when each micro-batch holds examples of similar lengths
(`LengthGroupedSteps`): the Trainer's random order, with the examples of each optimizer step
sorted by length. Each step holds the examples it would hold anyway, so the step's gradient
is the same sum over the same tokens, only split differently into micro-batches, as a change
of training.micro_batch_size would: Trainer divides by the whole step's token count
(num_items_in_batch) for models that take it, as transformers' Llama, Qwen and Mistral do."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ablate.models.tokens import IGNORE, Example, collate


class TrainingBatches:
    """The Trainer's collator: packed rows (or padded ones) and a count of the tensor slots
    that hold real tokens, for the stats."""

    def __init__(self, pad_id: int, packed: bool) -> None:
        from transformers import DataCollatorWithFlattening

        self.pad_id = pad_id
        self.packed = packed
        self._flatten = DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE)
        self.real_tokens = 0
        self.tensor_slots = 0

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        real = sum(len(e.input_ids) for e in examples)
        if self.packed:
            rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
            batch: dict[str, Any] = dict(self._flatten(rows))
            # A cache would turn off the packed-sequence masks (masking_utils reads position
            # ids only without one); training never needs it.
            batch["use_cache"] = False
            slots = real
        else:
            batch = collate(examples, self.pad_id)
            slots = int(batch["input_ids"].numel())
        self.real_tokens += real
        self.tensor_slots += slots
        return batch

    @property
    def real_token_fraction(self) -> float | None:
        return self.real_tokens / self.tensor_slots if self.tensor_slots else None


def packing_pays(model: Any) -> bool:
    """Whether the model's attention computes packed examples apart (flash-attention's
    variable-length kernels). SDPA and eager attention apply a block mask over the whole row:
    their attention cost grows with the square of the row, not of each example, and packed
    training ran 2.3x slower than padded on CPU (benchmarks/bench_training.py)."""
    config = getattr(model, "config", None)
    return "flash" in str(getattr(config, "_attn_implementation", "") or "")


def use_packing(setting: bool | None, model: Any, device: str) -> bool:
    """training.packing read for this model: null packs where it pays; true or null-and-pays
    still needs the model to keep packed examples apart (respects_boundaries)."""
    wanted = packing_pays(model) if setting is None else setting
    return wanted and respects_boundaries(model, device)


def respects_boundaries(model: Any, device: str) -> bool:
    """Whether the model keeps packed examples apart: the logits of an example packed after
    another equal its logits alone (checked in eval mode, dropout off)."""
    import torch

    first, second = [5, 6, 7, 8, 9], [10, 11, 12]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            alone = model(input_ids=torch.tensor([second], device=device), use_cache=False).logits
            packed = model(
                input_ids=torch.tensor([first + second], device=device),
                position_ids=torch.tensor(
                    [list(range(len(first))) + list(range(len(second)))], device=device
                ),
                use_cache=False,
            ).logits
    finally:
        model.train(was_training)
    tail = packed[0, len(first) :].float()
    scale = float(alone.float().abs().max()) or 1.0
    return bool(torch.allclose(tail, alone[0].float(), atol=2e-2 * scale, rtol=0))


def step_sorted_order(order: list[int], lengths: Sequence[int], step: int) -> list[int]:
    """`order` with each optimizer step's examples (`step` consecutive ones) sorted longest
    first; the stable sort keeps equal lengths in `order`'s random order."""
    return [
        index
        for start in range(0, len(order), step)
        for index in sorted(order[start : start + step], key=lambda i: -lengths[i])
    ]


class LengthGroupedSteps:
    """The Trainer's sampler for padded training: its random order, each optimizer step's
    examples sorted by length (step_sorted_order), so a micro-batch pads little.

    The random order is the one the Trainer draws without it (accelerate's
    SeedableRandomSampler: a permutation from a generator seeded with data_seed + epoch), so
    the steps hold the same examples; drawn from the seed and the epoch alone, not from the
    global RNG, the order is the same after a resume from a checkpoint inside an epoch."""

    def __init__(self, lengths: Sequence[int], step: int, seed: int) -> None:
        self.lengths = list(lengths)
        self.step = step
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls it before each epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        import torch

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        return iter(step_sorted_order(order, self.lengths, self.step))
