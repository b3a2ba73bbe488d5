"""The driver checks what it can before it writes anything: a results folder that is a file,
a sweep folder another command holds, Ray failing to start (its own start-up timeout raises a
bare Exception) all stop the command with one message, with no sweep folder or MLflow store
written.

Ray's start-up failure is injected (ray.init raising what Ray raises on a busy machine): it
cannot be produced on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablate.api import resume_sweep, run_sweep
from ablate.errors import UserError

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "sweeps" / "quickstart.yaml"


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_ray_start_up_timeout_is_one_message_and_writes_nothing(
    tiny_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    calls = []

    def timed_out(*args: object, **kwargs: object) -> None:
        calls.append(kwargs.get("address"))
        raise Exception(
            "The current node timed out during startup. This could happen because some of "
            "the raylet failed to startup or the GCS has become overloaded."
        )

    monkeypatch.setattr(ray, "init", timed_out)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    results = tmp_path / "results"
    with pytest.raises(UserError, match="Ray did not start") as info:
        run_sweep(QUICKSTART, [], results, None)
    assert "timed out during startup" in str(info.value)
    assert calls == ["local", "local"], "a local start is tried twice before giving up"
    # Only the prepared pool stays (complete and cached by key, as `ablate data prepare` makes
    # it: building it is how a malformed download is found before Ray starts); nothing of the
    # sweep, no MLflow store.
    assert [f for f in files_under(results) if not f.startswith("pools")] == []


def test_results_dir_that_is_a_file_is_refused(tiny_cache: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.write_text("not a folder")
    with pytest.raises(UserError, match="is a file, not a folder"):
        run_sweep(QUICKSTART, [], results, None)
    assert results.read_text() == "not a folder"


def test_a_busy_sweep_folder_is_refused_before_ray_starts(
    tiny_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray
    from filelock import FileLock

    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ray must not start for a busy sweep folder")

    monkeypatch.setattr(ray, "init", no_ray)
    sweep_dir = tmp_path / "results" / "quickstart"
    sweep_dir.mkdir(parents=True)
    with FileLock(sweep_dir / ".lock"), pytest.raises(UserError, match="another `ablate run`"):
        run_sweep(QUICKSTART, [], tmp_path / "results", None)
    assert files_under(sweep_dir) == [".lock"]


def test_resume_takes_no_name_override(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="continues the sweep in the folder"):
        resume_sweep(tmp_path, ["name=other"], None)


def test_resume_of_a_folder_without_a_sweep(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no config\.yaml here"):
        resume_sweep(tmp_path, [], None)
