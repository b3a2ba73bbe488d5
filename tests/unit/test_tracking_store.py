"""The MLflow store as an operator meets it: a bogus URI, a damaged or unwritable store, a store
that breaks in the middle of a sweep, two sweeps starting at once on a fresh results folder, a
parent run cut short by a crash."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

from ablate.errors import UserError
from ablate.tracking import (
    COMPLETE_TAG,
    PLAN_TAG,
    ROLE_TAG,
    SweepTracker,
    TrialRecord,
    store_problem,
)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated store made once: a copy per test opens in a fraction of the time."""
    folder = tmp_path_factory.mktemp("template")
    SweepTracker(f"sqlite:///{folder / 'mlflow.db'}", "template", folder / "art")
    return folder / "mlflow.db"


def _tracker(tmp_path: Path, template_db: Path) -> SweepTracker:
    shutil.copy(template_db, tmp_path / "mlflow.db")
    return SweepTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "s", tmp_path / "art")


def test_store_problems_are_found_without_writing(tmp_path: Path) -> None:
    assert "not a tracking store scheme" in (store_problem("bogus://x") or "")
    assert store_problem(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}") is None
    assert not (tmp_path / "new").exists()
    (tmp_path / "garbage.db").write_bytes(b"this is not a database at all")
    assert "not an SQLite database" in (store_problem(f"sqlite:///{tmp_path / 'garbage.db'}") or "")
    (tmp_path / "folder.db").mkdir()
    assert "is a folder" in (store_problem(f"sqlite:///{tmp_path / 'folder.db'}") or "")
    (tmp_path / "afile").write_text("x")
    problem = store_problem(f"sqlite:///{tmp_path / 'afile' / 'mlflow.db'}")
    assert problem is not None and "not a writable folder" in problem
    assert store_problem("http://127.0.0.1:9") is None  # reachability is learnt on opening


@pytest.mark.parametrize(
    "uri_of",
    [
        lambda d: "bogus://x",
        lambda d: f"sqlite:///{d / 'garbage.db'}",
        lambda d: f"sqlite:///{d / 'afile' / 'mlflow.db'}",
    ],
    ids=["bogus-scheme", "damaged-db", "under-a-file"],
)
def test_an_unusable_store_is_a_user_error(tmp_path: Path, uri_of: object) -> None:
    (tmp_path / "garbage.db").write_bytes(b"SQLite format 2 garbage garbage garbage")
    (tmp_path / "afile").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    uri = uri_of(tmp_path)  # type: ignore[operator]
    with pytest.raises(UserError, match="MLflow tracking store"):
        SweepTracker(uri, "sweep", tmp_path / "mlartifacts")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_store_mlflow_cannot_read_is_a_user_error(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 80 + b"garbage" * 100)
    with pytest.raises(UserError, match="cannot be used"):
        SweepTracker(f"sqlite:///{db}", "sweep", tmp_path / "mlartifacts")


def test_a_parent_cut_short_before_its_params_is_replaced(
    tmp_path: Path, template_db: Path
) -> None:
    tracker = _tracker(tmp_path, template_db)
    client = tracker.client
    # What a crash between create_run and logging the params leaves behind.
    orphan = client.create_run(
        tracker.experiment_id, tags={ROLE_TAG: "sweep", PLAN_TAG: "plan1"}
    ).info.run_id
    parent = tracker.parent_run_id("plan1", {"training.epochs": "3"})
    assert parent != orphan
    run = client.get_run(parent)
    assert run.data.params == {"training.epochs": "3"}
    assert run.data.tags[COMPLETE_TAG] == "true"
    assert client.get_run(orphan).info.lifecycle_stage == "deleted"
    assert tracker.parent_run_id("plan1", {"training.epochs": "3"}) == parent


def _trial(trial_id: str) -> TrialRecord:
    return TrialRecord(trial_id, f"a-n1-s{trial_id}", "a", 1, 0, {"judge_mean": 3.0}, {})


def test_a_store_damaged_mid_sweep_is_a_user_error_saying_what_to_do(
    tmp_path: Path, template_db: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "mlflow.db"
    tracker = _tracker(tmp_path, template_db)
    parent = tracker.parent_run_id("plan1", {})
    tracker.record_trial(parent, _trial("1"))
    db.write_bytes(b"overwritten by something else " * 200)
    with pytest.raises(UserError) as caught:
        tracker.record_trial(parent, _trial("2"))
    message = str(caught.value)
    assert f"'sqlite:///{db}'" in message and "file is not a database" in message
    assert "run the sweep again" in message
    assert "Traceback" not in capfd.readouterr().err  # MLflow's own error log is quiet


def test_an_unreachable_server_mid_sweep_is_a_user_error(
    tmp_path: Path, template_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    tracker = _tracker(tmp_path, template_db)
    parent = tracker.parent_run_id("plan1", {})

    def refused(*args: object, **kwargs: object) -> None:
        raise requests.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(tracker.client, "set_terminated", refused)
    with pytest.raises(UserError, match="Connection refused"):
        tracker.finish_parent(parent, [], failed=False)


def test_a_value_the_store_rejects_keeps_its_traceback(tmp_path: Path, template_db: Path) -> None:
    """A rejected value is a bug of ours, not a store the user must fix."""
    from mlflow.exceptions import MlflowException

    tracker = _tracker(tmp_path, template_db)
    parent = tracker.parent_run_id("plan1", {})
    bad = TrialRecord("t", "a-n1-s0", "a", 1, 0, {"../escape": 1.0}, {})  # an invalid name
    with pytest.raises(MlflowException) as caught:
        tracker.record_trial(parent, bad)
    assert not isinstance(caught.value, UserError)


def _open(uri: str, artifacts: str, start: multiprocessing.synchronize.Barrier) -> str:
    start.wait(120)
    return SweepTracker(uri, "race", Path(artifacts)).experiment_id


@pytest.mark.integration
def test_sweeps_starting_at_once_on_a_fresh_store_all_open_it(tmp_path: Path) -> None:
    """MLflow creates its schema on first open; several processes doing it at once raced
    ("table ... already exists") until store creation was serialised."""
    processes = 6
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(processes)
    with ctx.Pool(processes) as pool:
        ids = pool.starmap(_open, [(uri, str(tmp_path / "art"), start)] * processes)
    assert len(set(ids)) == 1
