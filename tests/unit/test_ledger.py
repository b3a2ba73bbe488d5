"""Behaviour of the on-disk ledger: atomic writes, done markers, failures, the trial list."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ablate.files import atomic_write_json, atomic_write_text, read_json, read_jsonl, write_jsonl
from ablate.ledger import (
    DONE,
    FAILED,
    TrialLedger,
    read_trials,
    remove_stale_temporaries,
    trial_root,
    write_plan_file,
    write_trial_file,
)
from ablate.plan import STAGES, Trial

KEYS = {stage: f"{stage}-key" for stage in STAGES}


class Boom(RuntimeError):
    pass


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def hidden(folder: Path) -> list[str]:
    return [name for name in entries(folder) if name.startswith(".")]


def fail(*_args: object, **_kwargs: object) -> None:
    raise Boom("disk gone")


# --- atomic writes --------------------------------------------------------------------------


def test_atomic_write_creates_parents_and_writes_text(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "file.txt"
    atomic_write_text(path, "héllo\n")
    assert path.read_text("utf-8") == "héllo\n"
    assert entries(path.parent) == ["file.txt"]


def test_atomic_write_replaces_old_content(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text("utf-8") == "new"
    assert entries(tmp_path) == ["file.txt"]


@pytest.mark.parametrize("broken", ["replace", "fsync"])
def test_failed_atomic_write_keeps_old_content_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    path = tmp_path / "file.txt"
    path.write_text("old", "utf-8")
    monkeypatch.setattr(os, broken, fail)
    with pytest.raises(Boom):
        atomic_write_text(path, "new content")
    monkeypatch.undo()
    assert path.read_text("utf-8") == "old"
    assert entries(tmp_path) == ["file.txt"]


def test_failed_first_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(Boom):
        atomic_write_text(tmp_path / "file.txt", "new")
    monkeypatch.undo()
    assert entries(tmp_path) == []


def test_atomic_write_gives_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    # Results are read by other users and tools (shared storage, `mlflow ui`); a file written
    # atomically must be as readable as one written with open(), i.e. follow the umask.
    plain, atomic = tmp_path / "plain.txt", tmp_path / "atomic.txt"
    plain.write_text("x", "utf-8")
    atomic_write_text(atomic, "x")
    atomic_mode = stat.S_IMODE(atomic.stat().st_mode)
    plain_mode = stat.S_IMODE(plain.stat().st_mode)
    assert atomic_mode == plain_mode, f"atomic write: {atomic_mode:o}, open(): {plain_mode:o}"


def test_atomic_write_json_round_trips(tmp_path: Path) -> None:
    value = {"b": [1, 2.5, None], "a": "ü", "nested": {"x": True}}
    atomic_write_json(tmp_path / "v.json", value)
    assert read_json(tmp_path / "v.json") == value


def test_jsonl_round_trips_and_skips_blank_lines(tmp_path: Path) -> None:
    rows = [{"id": "1", "prompt": "ä"}, {"id": "2", "prompt": "b\nc"}]
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, rows)
    path.write_text(path.read_text("utf-8") + "\n\n", "utf-8")
    assert read_jsonl(path) == rows


# --- stages ---------------------------------------------------------------------------------


def test_successful_stage_is_done_with_its_key_only(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    with ledger.write_stage("select", "k1", {"n": 3}) as folder:
        (folder / "subset.jsonl").write_text("{}\n", "utf-8")
    stage = ledger.stage_dir("select")
    assert entries(stage) == sorted([DONE, "subset.jsonl"])
    marker = read_json(stage / DONE)
    assert marker["key"] == "k1" and marker["stage"] == "select" and marker["n"] == 3
    assert ledger.done_marker("select") == marker
    assert ledger.is_done("select", "k1")
    assert not ledger.is_done("select", "k2")
    assert not ledger.is_done("train", "k1")
    assert hidden(ledger.root) == []


def test_stage_that_raises_leaves_no_stage_and_no_hidden_folders(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    with pytest.raises(Boom), ledger.write_stage("train", "k1") as folder:
        (folder / "half.bin").write_bytes(b"partial")
        raise Boom("out of memory")
    assert not ledger.stage_dir("train").exists()
    assert ledger.done_marker("train") is None
    assert not ledger.is_done("train", "k1")
    assert hidden(ledger.root) == []


def test_stage_that_raises_keeps_the_old_complete_stage(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    with ledger.write_stage("generate", "old-key") as folder:
        (folder / "out.txt").write_text("old", "utf-8")
    with pytest.raises(Boom), ledger.write_stage("generate", "new-key") as folder:
        (folder / "out.txt").write_text("new, half", "utf-8")
        (folder / "extra.txt").write_text("x", "utf-8")
        raise Boom("killed")
    stage = ledger.stage_dir("generate")
    assert entries(stage) == sorted([DONE, "out.txt"])
    assert (stage / "out.txt").read_text("utf-8") == "old"
    assert ledger.is_done("generate", "old-key")
    assert not ledger.is_done("generate", "new-key")
    assert hidden(ledger.root) == []


def test_failure_while_writing_the_marker_keeps_the_old_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    with ledger.write_stage("judge", "old-key") as folder:
        (folder / "j.txt").write_text("old", "utf-8")
    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(Boom), ledger.write_stage("judge", "new-key") as folder:
        (folder / "j.txt").write_text("new", "utf-8")
    monkeypatch.undo()
    assert (ledger.stage_dir("judge") / "j.txt").read_text("utf-8") == "old"
    assert ledger.is_done("judge", "old-key")
    assert hidden(ledger.root) == []


def test_failure_while_swapping_in_leaves_old_stage_or_none_never_a_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    with ledger.write_stage("score", "old-key") as folder:
        (folder / "s.txt").write_text("old", "utf-8")
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self.name.startswith(".score.tmp-"):  # the new stage cannot be moved into place
            raise Boom("rename failed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(Boom), ledger.write_stage("score", "new-key") as folder:
        (folder / "s.txt").write_text("new", "utf-8")
    monkeypatch.undo()
    stage = ledger.stage_dir("score")
    assert (stage / "s.txt").read_text("utf-8") == "old", "the old complete stage is restored"
    assert ledger.is_done("score", "old-key")
    assert not ledger.is_done("score", "new-key")
    assert not [name for name in hidden(ledger.root) if ".tmp-" in name or ".old-" in name]


def test_rewriting_a_done_stage_replaces_its_contents_wholesale(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    with ledger.write_stage("select", "k1") as folder:
        (folder / "a.txt").write_text("a", "utf-8")
        (folder / "stale.txt").write_text("stale", "utf-8")
    with ledger.write_stage("select", "k2") as folder:
        (folder / "a.txt").write_text("a2", "utf-8")
        (folder / "b.txt").write_text("b", "utf-8")
    stage = ledger.stage_dir("select")
    assert entries(stage) == sorted([DONE, "a.txt", "b.txt"])
    assert (stage / "a.txt").read_text("utf-8") == "a2"
    assert ledger.is_done("select", "k2")
    assert not ledger.is_done("select", "k1")
    assert hidden(ledger.root) == []


def test_write_stage_yields_an_empty_folder_outside_the_stage(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    with ledger.write_stage("select", "k1") as folder:
        (folder / "x").write_text("x", "utf-8")
    with ledger.write_stage("select", "k2") as folder:
        assert list(folder.iterdir()) == []
        assert folder != ledger.stage_dir("select")
        # While a stage is being written, the old one is still there and still done.
        assert ledger.is_done("select", "k1")


def test_next_stage_walks_the_stages_in_order(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    assert ledger.next_stage(KEYS) == STAGES[0]
    for i, stage in enumerate(STAGES):
        assert ledger.next_stage(KEYS) == stage
        with ledger.write_stage(stage, KEYS[stage]):
            pass
        expected = STAGES[i + 1] if i + 1 < len(STAGES) else None
        assert ledger.next_stage(KEYS) == expected
    assert ledger.next_stage(KEYS) is None


def test_next_stage_is_the_first_whose_key_changed(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    for stage in STAGES:
        with ledger.write_stage(stage, KEYS[stage]):
            pass
    new_judge = {**KEYS, "judge": "other", "score": "other-score"}
    assert ledger.next_stage(new_judge) == "judge"
    new_select = {**KEYS, "select": "changed"}
    assert ledger.next_stage(new_select) == "select"


def test_next_stage_does_not_skip_a_missing_earlier_stage(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    with ledger.write_stage("generate", KEYS["generate"]):
        pass
    assert ledger.next_stage(KEYS) == "select"


# --- failures -------------------------------------------------------------------------------


def test_record_failure_and_read_it_back(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    assert ledger.failure() is None
    ledger.record_failure("train", "CUDA out of memory")
    failure = ledger.failure()
    assert failure is not None
    assert failure["stage"] == "train" and failure["error"] == "CUDA out of memory"
    assert (ledger.root / FAILED).is_file()


def test_successful_stage_write_clears_the_failure(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    ledger.record_failure("train", "boom")
    with ledger.write_stage("train", "k"):
        pass
    assert ledger.failure() is None


def test_failed_stage_write_keeps_the_failure(tmp_path: Path) -> None:
    ledger = TrialLedger(tmp_path / "trial")
    ledger.record_failure("train", "first")
    with pytest.raises(Boom), ledger.write_stage("train", "k"):
        raise Boom("again")
    failure = ledger.failure()
    assert failure is not None and failure["error"] == "first"


# --- trial files ----------------------------------------------------------------------------


def make_trial(arm: str, n: int, seed: int) -> Trial:
    keys = {stage: f"{arm}{n}{seed}{stage}" for stage in STAGES}
    return Trial(arm=arm, pool=f"pool-{arm}", n_examples=n, seed=seed, stage_keys=keys)


def test_read_trials_follows_the_current_plan_in_plan_order(tmp_path: Path) -> None:
    trials = [
        make_trial("b", 100, 0),
        make_trial("a", 1000, 1),
        make_trial("a", 200, 0),  # "a-n1000" sorts before "a-n200" as a folder name
    ]
    dropped = make_trial("c", 5, 0)  # from an older plan: still on disk, not in this plan
    for trial in [*trials, dropped]:
        write_trial_file(tmp_path, trial)
    assert read_trials(tmp_path) == []  # no plan written yet
    write_plan_file(tmp_path, "plan-1", trials)
    read = read_trials(tmp_path)
    assert read == trials
    assert read[2].trial_id == trials[2].trial_id and read[2].pool == "pool-a"


def test_stale_temporaries_are_removed_and_complete_stages_kept(tmp_path: Path) -> None:
    root = tmp_path / "trials" / "a-n1-s0"
    (root / ".train.tmp-1234abcd").mkdir(parents=True)
    (root / ".judge.old-1234abcd").mkdir()
    (root / "train").mkdir()
    assert remove_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in root.iterdir()) == ["train"]


def test_trial_file_sits_in_the_trial_folder(tmp_path: Path) -> None:
    trial = make_trial("arm", 16, 3)
    write_trial_file(tmp_path, trial)
    root = trial_root(tmp_path, trial)
    assert root == tmp_path / "trials" / "arm-n16-s3"
    spec = json.loads((root / "trial.json").read_text("utf-8"))
    assert spec["trial_id"] == trial.trial_id
    assert spec["stage_keys"] == trial.stage_keys


def test_read_trials_of_an_empty_folder_is_empty(tmp_path: Path) -> None:
    assert read_trials(tmp_path) == []
