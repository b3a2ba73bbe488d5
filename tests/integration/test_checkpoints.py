"""Checkpoints inside training: a fine-tune stopped by a crash after its first checkpoint
continues from it when started again, repeats no step before it, and ends where an
uninterrupted run ends (same data order, same RNG). Real training on CPU; the crash is
injected (an exception from a Trainer callback at a chosen step)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import LoraSettings, TrainingConfig
from ablate.data.fixtures.synthetic import synthetic_records
from ablate.models import finetune
from ablate.models.finetune import checkpoint_steps, fine_tune, last_checkpoint

pytestmark = pytest.mark.integration
TINY = "builtin:tiny"
N_RECORDS = 16  # 4 optimizer steps per epoch at batch size 4


class Crash(Exception):
    pass


def _config(method: str) -> TrainingConfig:
    return TrainingConfig(
        method=method, epochs=3, learning_rate=1e-3, final_learning_rate=1e-4, batch_size=4,
        micro_batch_size=2, max_seq_length=128, lora=LoraSettings(r=4, alpha=8),
        checkpoint_every="1 epoch",
    )  # fmt: skip


def _crash_at(step: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Trainer built from now on raises at the end of optimizer step `step`, before that
    step is logged or saved: the process dies there as far as training can tell."""
    from transformers import TrainerCallback

    class CrashAt(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == step:
                raise Crash(step)

    built = finetune.build_trainer

    def build_and_arm(*args: Any, **kwargs: Any) -> Any:
        trainer = built(*args, **kwargs)
        trainer.add_callback(CrashAt())
        return trainer

    monkeypatch.setattr(finetune, "build_trainer", build_and_arm)


def _log(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


def _weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    (path,) = folder.glob("model/*.safetensors")
    return load_file(str(path))


def test_checkpoint_steps_follow_the_setting() -> None:
    cfg = _config("full")
    assert checkpoint_steps(cfg, N_RECORDS) == 4
    assert checkpoint_steps(replace(cfg, checkpoint_every="2 epochs"), N_RECORDS) == 8
    assert checkpoint_steps(replace(cfg, checkpoint_every="3 steps"), N_RECORDS) == 3
    assert checkpoint_steps(replace(cfg, checkpoint_every=None), N_RECORDS) is None


@pytest.mark.parametrize(
    ("method", "every", "crash", "resumed", "last"),
    [
        ("full", "1 epoch", 6, 4, 8),  # in epoch 2, after the checkpoint at step 4
        ("lora", "1 epoch", 6, 4, 8),
        # Inside epoch 2: the resumed run draws epoch 2's length-grouped order (padded
        # batches here) as the uninterrupted one did, from the seed and the epoch, skips the
        # batches of its first two steps and goes on alike.
        ("full", "3 steps", 8, 6, 9),
    ],
)
def test_a_crashed_fine_tune_resumes_from_its_checkpoint_and_ends_alike(
    method: str,
    every: str,
    crash: int,
    resumed: int,
    last: int,
    tiny_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    records = synthetic_records(N_RECORDS, seed=3)
    cfg = replace(_config(method), checkpoint_every=every)
    whole = tmp_path / "whole"
    fine_tune(TINY, None, "float32", records, cfg, 0, whole, "cpu", work_dir=tmp_path / "w0")

    work, first, second = tmp_path / "work", tmp_path / "first", tmp_path / "second"
    with monkeypatch.context() as patched:
        _crash_at(crash, patched)
        with pytest.raises(Crash):
            fine_tune(TINY, None, "float32", records, cfg, 0, first, "cpu", work_dir=work)
    found = last_checkpoint(work)
    assert found is not None and found[1] == resumed
    stats = fine_tune(TINY, None, "float32", records, cfg, 0, second, "cpu", work_dir=work)
    assert last_checkpoint(work)[1] == last, "no checkpoint of the last step (the model is saved)"
    assert stats["train_resumed_from_step"] == resumed and stats["train_attempt"] == 1
    assert stats["train_length_grouped"] is True  # CPU: padded, so grouped by default

    log = _log(second)
    assert [r["step"] for r in log] == list(range(1, 13)), "each step once, none repeated"
    redone = f"step {resumed + 1} was redone"
    assert {r["step"] for r in log if r["attempt"] == 0} == set(range(1, resumed + 1)), redone
    assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in _log(whole)], rel=1e-4)
    resumed, uninterrupted = _weights(second), _weights(whole)
    assert resumed.keys() == uninterrupted.keys()
    for name, tensor in resumed.items():
        assert torch.allclose(tensor, uninterrupted[name], atol=1e-5), name
