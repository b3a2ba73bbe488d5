"""A damaged ledger never crashes a reader: a damaged marker or a missing or truncated file
means "not done" (noted once), plan.json and the trial files back each other up, and a trial
held by a live worker is neither cleaned nor written by anyone else."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from ablate.errors import UserError
from ablate.ledger import (
    DONE,
    PLAN_FILE,
    TRIAL_FILE,
    TrialLedger,
    read_trials_noting,
    remove_stale_temporaries,
    trial_root,
    write_plan_file,
    write_trial_file,
)
from ablate.plan import STAGES, Trial
from ablate.results import read_state

KEYS = {stage: f"{stage}-key" for stage in STAGES}


def done_trial(root: Path) -> TrialLedger:
    ledger = TrialLedger(root)
    for stage in STAGES:
        with ledger.write_stage(stage, KEYS[stage]) as out:
            (out / "out.txt").write_text(f"{stage} output")
            if stage == "score":
                (out / "metrics.json").write_text(json.dumps({"judge_mean": 3.5}))
    return ledger


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("", "damaged (JSONDecodeError)"),
        ('{"key": "train-ke', "damaged (JSONDecodeError)"),
        ("[1, 2]", "damaged (a JSON list, not an object)"),
        ('"train-key"', "damaged (a JSON str, not an object)"),
        ("\xff\xfe", "damaged"),
    ],
    ids=["empty", "truncated", "list", "string", "not-utf8"],
)
def test_a_damaged_marker_is_not_done_and_noted(tmp_path: Path, damage: str, why: str) -> None:
    ledger = done_trial(tmp_path)
    (tmp_path / "train" / DONE).write_bytes(damage.encode("latin-1"))
    fresh = TrialLedger(tmp_path)
    assert fresh.next_stage(KEYS) == "train"
    assert len(fresh.damaged) == 1 and why in fresh.damaged[0]
    assert str(tmp_path / "train" / DONE) in fresh.damaged[0]
    assert ledger.is_done("select", KEYS["select"])


def test_a_deleted_or_truncated_stage_file_means_the_stage_is_not_done(tmp_path: Path) -> None:
    done_trial(tmp_path)
    (tmp_path / "generate" / "out.txt").write_text("gen")  # truncated
    (tmp_path / "score" / "default" / "metrics.json").unlink()
    ledger = TrialLedger(tmp_path)
    assert not ledger.is_done("generate", KEYS["generate"])
    assert not ledger.is_done("score", KEYS["score"])
    assert ledger.is_done("train", KEYS["train"]) and ledger.is_done("judge", KEYS["judge"])
    assert any("out.txt has 3 bytes" in note for note in ledger.damaged), ledger.damaged
    assert any("metrics.json is missing" in note for note in ledger.damaged), ledger.damaged


def test_markers_from_before_file_sizes_are_still_trusted(tmp_path: Path) -> None:
    (tmp_path / "select").mkdir()
    (tmp_path / "select" / DONE).write_text(json.dumps({"key": "select-key", "stage": "select"}))
    assert TrialLedger(tmp_path).is_done("select", "select-key")


def make_trial(arm: str, n: int) -> Trial:
    return Trial(arm, f"pool-{arm}", n, 0, {s: f"{arm}{n}{s}" for s in STAGES})


def planned(sweep_dir: Path, plan: bool = True) -> list[Trial]:
    """Two trials with their trial files, and the plan naming them."""
    trials = [make_trial("a", 8), make_trial("b", 16)]
    for trial in trials:
        write_trial_file(sweep_dir, trial)
    if plan:
        write_plan_file(sweep_dir, "plan", trials)
    return trials


@pytest.mark.parametrize("damage", ["", "{", "[]", '{"trials": 3}'])
def test_a_damaged_plan_falls_back_to_the_trial_files(tmp_path: Path, damage: str) -> None:
    trials = planned(tmp_path)
    (tmp_path / PLAN_FILE).write_text(damage)
    read, notes = read_trials_noting(tmp_path)
    assert sorted(t.folder for t in read) == sorted(t.folder for t in trials)
    assert len(notes) == 1 and str(tmp_path / PLAN_FILE) in notes[0]


@pytest.mark.parametrize("damage", ["", '{"arm": "a"', "[]", '{"arm": "a"}'])
def test_a_damaged_trial_file_is_read_from_the_plan(tmp_path: Path, damage: str) -> None:
    trials = planned(tmp_path)
    (trial_root(tmp_path, trials[0]) / TRIAL_FILE).write_text(damage)
    read, notes = read_trials_noting(tmp_path)
    assert read == trials and notes == []


def test_old_plans_listing_folders_still_read(tmp_path: Path) -> None:
    trials = planned(tmp_path, plan=False)
    (tmp_path / PLAN_FILE).write_text(
        json.dumps({"plan_id": "p", "trials": ["b-n16-s0", "a-n8-s0"]})
    )
    read, notes = read_trials_noting(tmp_path)
    assert read == [trials[1], trials[0]] and notes == []


def test_a_damaged_plan_and_trial_file_leave_that_trial_out_with_a_note(tmp_path: Path) -> None:
    trials = planned(tmp_path, plan=False)
    (tmp_path / PLAN_FILE).write_text("{")
    (trial_root(tmp_path, trials[0]) / TRIAL_FILE).write_text("")
    read, notes = read_trials_noting(tmp_path)
    assert read == [trials[1]]
    assert len(notes) == 2


def _hold_and_write(
    root: str, started: multiprocessing.synchronize.Event, go: multiprocessing.synchronize.Event
) -> None:
    ledger = TrialLedger(Path(root))
    with ledger.hold(), ledger.write_stage("train", "train-key") as out:
        (out / "weights").write_text("w")
        started.set()
        go.wait(60)


def test_a_held_trial_is_left_alone_and_waited_for(tmp_path: Path) -> None:
    """An orphaned worker of a killed driver is still writing: the next run's cleanup must not
    delete its temporary stage folder, and the next worker of that trial waits for it."""
    root = tmp_path / "trials" / "a-n8-s0"
    ctx = multiprocessing.get_context("spawn")
    started, go = ctx.Event(), ctx.Event()
    worker = ctx.Process(target=_hold_and_write, args=(str(root), started, go))
    worker.start()
    try:
        assert started.wait(120), "the worker never started"
        ledger = TrialLedger(root)
        assert ledger.is_held()
        assert remove_stale_temporaries(tmp_path) == 0
        assert [p.name for p in root.glob(".train.tmp-*")], "the live stage folder must stay"
        with pytest.raises(UserError, match="another process"), ledger.hold(wait_s=0.2):
            pass
        go.set()
        with ledger.hold(wait_s=120):  # waits for the worker to finish, then owns the trial
            assert ledger.is_done("train", "train-key")
    finally:
        go.set()
        worker.join(60)
    assert not ledger.is_held()


def test_stale_temporaries_of_a_free_trial_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "trials" / "a-n8-s0"
    (root / ".train.tmp-deadbeef").mkdir(parents=True)
    (root / ".lock").touch()  # a lock file nobody holds (a finished or killed worker's)
    assert remove_stale_temporaries(tmp_path) == 1


# --- states ---------------------------------------------------------------------------------


def state_of(tmp_path: Path, trial: Trial) -> str:
    return read_state(tmp_path, trial).label


def test_states_tell_running_failed_interrupted_and_pending_apart(tmp_path: Path) -> None:
    trial = make_trial("a", 8)
    root = trial_root(tmp_path, trial)
    ledger = TrialLedger(root)
    with ledger.write_stage("select", trial.stage_keys["select"]):
        pass
    assert state_of(tmp_path, trial) == "next: train"

    ledger.mark_running("train")
    assert state_of(tmp_path, trial).startswith("interrupted at train (no failure recorded")

    time.sleep(0.01)
    ledger.record_failure("train", "ValueError: bad")
    ledger.clear_running()
    assert state_of(tmp_path, trial) == "failed at train: ValueError: bad"

    time.sleep(0.01)
    ledger.mark_running("train")  # a retry started after the failure, then was killed
    assert state_of(tmp_path, trial).startswith("interrupted at train")

    with ledger.hold():
        assert state_of(tmp_path, trial).startswith("running train (host ")


def test_a_done_trial_whose_metrics_cannot_be_read_is_not_done(tmp_path: Path) -> None:
    trial = make_trial("a", 8)
    ledger = TrialLedger(trial_root(tmp_path, trial))
    for stage in STAGES:
        with ledger.write_stage(stage, trial.stage_keys[stage]) as out:
            if stage == "score":
                (out / "metrics.json").write_text("[]")
    state = read_state(tmp_path, trial)
    assert not state.done and state.stage == "score"
    assert any("metrics.json" in note for note in state.notes)
