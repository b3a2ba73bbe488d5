"""Which checkpoint a restarted training continues from, and the checkpoint setting's forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablate.config.schema import checkpoint_interval
from ablate.models.finetune import _continue_log, last_checkpoint


def _checkpoint(work: Path, step: int, complete: bool) -> Path:
    folder = work / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "optimizer.pt").write_bytes(b"x")
    if complete:  # Trainer writes trainer_state.json last
        (folder / "trainer_state.json").write_text("{}")
    return folder


def test_the_newest_complete_checkpoint_is_chosen(tmp_path: Path) -> None:
    assert last_checkpoint(tmp_path / "absent") is None
    _checkpoint(tmp_path, 8, complete=True)
    newest = _checkpoint(tmp_path, 16, complete=True)
    _checkpoint(tmp_path, 24, complete=False)  # a kill while it was being written
    (tmp_path / "checkpoint-tmp").mkdir()
    assert last_checkpoint(tmp_path) == (newest, 16)


def test_the_log_keeps_the_steps_up_to_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(f'{{"step": {s}, "attempt": 0, "loss": 1.0}}\n' for s in range(1, 7)))
    assert _continue_log(log, 4) == 1
    assert [line.count('"step": ') for line in log.read_text().splitlines()] == [1] * 4
    assert _continue_log(log, None) == 0 and not log.exists(), "a fresh start, a fresh log"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1 epoch", (1, "epoch")), ("2 epochs", (2, "epoch")), ("500 steps", (500, "step")),
     ("1step", (1, "step")), ("0 epochs", None), ("epoch", None), ("5", None), ("2 days", None)],
)  # fmt: skip
def test_checkpoint_every_reads_epochs_or_steps(text: str, expected: object) -> None:
    assert checkpoint_interval(text) == expected


def test_training_settings_that_only_change_speed_are_checked_at_load(tmp_path: Path) -> None:
    from ablate.errors import ConfigError
    from tests.unit.config.test_load import EXPERIMENT, load_config, write_pair

    def load(training: dict[str, object]) -> object:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        return load_config(write_pair(folder, dict(EXPERIMENT) | {"training": training}))

    assert load({"attn_implementation": "eager", "packing": True, "checkpoint_every": "9 steps"})
    with pytest.raises(ConfigError, match=r"training\.attn_implementation: 'flash'"):
        load({"attn_implementation": "flash"})
    with pytest.raises(ConfigError, match=r"training\.checkpoint_every: '2 days'"):
        load({"checkpoint_every": "2 days"})
