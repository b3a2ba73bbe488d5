"""The live display's bookkeeping: counts, the step inside training, per-trial time, the ETA,
failures with their reason, and a clock that does not wait for events."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from ablate.progress import SweepProgress, clock
from ablate.runner import error_summary


def progress(folders: list[str], done: int = 0) -> tuple[SweepProgress, io.StringIO]:
    buffer = io.StringIO()
    return SweepProgress(folders, done, Console(file=buffer, width=200)), buffer


def rendered(p: SweepProgress) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200).print(p.render())
    return buffer.getvalue()


def test_clock_is_short() -> None:
    assert [clock(s) for s in (0, 59.9, 61, 3599, 3600 + 61)] == [
        "0s",
        "59s",
        "1m01s",
        "59m59s",
        "1h01m",
    ]


def test_counts_stage_steps_and_a_results_line_per_event() -> None:
    p, log = progress(["a", "b", "c"], done=2)
    p.event("start", "a", {})
    p.event("stage", "a", {"stage": "train"})
    p.event("stage", "a", {"stage": "train", "step": 3, "steps": 12})
    assert "train 3/12" in rendered(p)
    assert "1 running" in p.headline() and "2 waiting" in p.headline()
    p.event("stage", "a", {"stage": "generate"})
    assert "train 3/12" not in rendered(p), "a new stage starts without the old step"
    p.event("complete", "a", {})
    assert "3 done (2 from earlier runs)" in p.headline()
    assert "a: train" in log.getvalue() and "a: done" in log.getvalue()


def test_no_eta_before_a_trial_finishes_then_an_estimate() -> None:
    p, _ = progress(["a", "b", "c"])
    assert p.eta(p.started + 100) is None
    p.event("stage", "a", {"stage": "train"})
    p.event("complete", "a", {})
    # One trial done in 100 s, two left: about 200 s at this pace.
    assert p.eta(p.started + 100) == pytest.approx(200)  # started is a clock reading: float sums
    assert "left]" in p.headline(p.started + 100)


def test_the_clock_ticks_without_events() -> None:
    p, _ = progress(["a"])
    assert "[0s" in p.headline(p.started + 0.2)
    assert "[1m05s" in p.headline(p.started + 65)


def test_a_failure_shows_its_reason_and_a_deterministic_one_is_not_done() -> None:
    p, log = progress(["a", "b"])
    p.event("stage", "a", {"stage": "train"})
    p.event("stage", "a", {"stage": "failed", "error": "training.max_seq_length: too small"})
    p.event("complete", "a", {})  # Tune ends a deterministic failure normally
    p.event("stage", "b", {"stage": "train"})
    p.event("error", "b", {"error": "RayActorError: the actor died unexpectedly"})
    assert "0 done" in p.headline() and "2 failed" in p.headline()
    text = rendered(p)
    assert "FAILED a: training.max_seq_length: too small" in text
    assert "FAILED b: RayActorError: the actor died unexpectedly" in text
    assert "ray_results" not in log.getvalue()


def test_no_empty_running_table_once_nothing_runs() -> None:
    p, _ = progress(["a"])
    p.event("stage", "a", {"stage": "train"})
    assert "running trial" in rendered(p)
    p.event("complete", "a", {})
    assert "running trial" not in rendered(p)


def test_error_summary_is_the_last_exception_line(tmp_path: Path) -> None:
    error = tmp_path / "error.txt"
    error.write_text(
        "Failure # 1 (occurred at 2026-11-30_12-00-00)\n"
        "ray::ImplicitFunc.train() (pid=123, ip=10.0.0.1)\n"
        '  File "x.py", line 3, in f\n'
        "ValueError: weights are NaN\n"
    )
    assert error_summary(str(error)) == "ValueError: weights are NaN"
    assert error_summary(None) == "no error report from Ray"
    assert error_summary(str(tmp_path / "missing")) == "no error report from Ray"


def test_a_dead_worker_is_said_in_one_line(tmp_path: Path) -> None:
    error = tmp_path / "error.txt"
    error.write_text(
        "Failure # 1 (occurred at 2026-11-30_19-17-00)\n"
        "The actor died unexpectedly before finishing this task.\n"
        "\tclass_name: ImplicitFunc\n\tpid: 14637\n"
        "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR "
        "Worker exit detail: Worker unexpectedly exits with a connection error code 2. " + "x" * 500
    )
    assert error_summary(str(error)) == (
        "its process died (killed, out of memory or a crash; Ray: SYSTEM_ERROR, pid 14637)"
    )


def test_a_search_counts_the_trials_it_has_still_to_propose() -> None:
    buffer = io.StringIO()
    p = SweepProgress([], 3, Console(file=buffer, width=200), upcoming=4)
    assert "4 waiting" in p.headline()
    p.event("planned", "c1-n64-s0", {})  # proposed: waiting as a trial now, one fewer to come
    assert "4 waiting" in p.headline() and p.upcoming == 3
    p.event("start", "c1-n64-s0", {})
    p.event("complete", "c1-n64-s0", {})
    # One done in 100 s and 3 still to come: about 300 s at this pace.
    assert p.eta(p.started + 100) == pytest.approx(300)
