"""What the terminal shows while a sweep runs: trials done, running, failed and waiting, each
running trial's stage (with the step inside training) and time, the sweep's elapsed time and,
once a trial has finished, an estimate of the time left.

On a terminal it is a live table redrawn four times a second (so the clocks tick even when no
event arrives); elsewhere (CI, a log file) one line per event, so a log reads as a history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text


def clock(seconds: float) -> str:
    """12s, 3m05s, 2h01m: short enough for a table cell."""
    s = int(max(0.0, seconds) + 1e-6)  # start + 65 - start can be 64.99999...
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class _Running:
    stage: str
    started: float
    step: int | None = None
    steps: int | None = None

    def stage_text(self) -> str:
        if self.step is not None and self.steps:
            return f"{self.stage} {self.step}/{self.steps}"
        return self.stage


@dataclass
class SweepProgress:
    folders: list[str]
    already_done: int
    console: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    started: float = field(default_factory=time.monotonic)  # the command's start, not Ray's
    upcoming: int = 0  # trials still to be made (a search proposes as it goes)

    def __post_init__(self) -> None:
        self.pending = set(self.folders)
        self.running: dict[str, _Running] = {}
        self.failed: dict[str, str] = {}  # folder -> reason
        self.finished: set[str] = set()
        self.live: Live | None = None

    def __enter__(self) -> SweepProgress:
        if self.console.is_terminal:
            # get_renderable: Live calls it on every refresh, so the clocks tick by themselves.
            self.live = Live(console=self.console, refresh_per_second=4, get_renderable=self.render)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def eta(self, now: float) -> float | None:
        """Seconds left at this run's pace (trials finished per second); None before the first."""
        finished = len(self.finished) + len(self.failed)
        left = len(self.pending) + len(self.running) + self.upcoming
        if not finished or not left:
            return None
        return (now - self.started) / finished * left

    def headline(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        done = len(self.finished) + self.already_done
        text = (
            f"trials: {done} done ({self.already_done} from earlier runs), "
            f"{len(self.running)} running, {len(self.failed)} failed, "
            f"{len(self.pending) + self.upcoming} waiting  [{clock(now - self.started)}"
        )
        eta = self.eta(now)
        return text + (f", about {clock(eta)} left]" if eta is not None else "]")

    def render(self) -> RenderableType:
        now = time.monotonic()
        parts: list[RenderableType] = [Text(self.headline(now), style="bold")]
        if self.running:  # no empty header once nothing runs
            table = Table("running trial", "stage", "time", box=None)
            for folder, run in sorted(self.running.items()):
                table.add_row(folder, run.stage_text(), clock(now - run.started))
            parts.append(table)
        for folder, reason in sorted(self.failed.items()):
            line = Text(f"FAILED {folder}: {reason}", style="red", no_wrap=True)
            line.overflow = "ellipsis"  # one line each; `ablate status` has the whole reason
            parts.append(line)
        return Group(*parts)

    def _line(self, line: str) -> None:
        if self.live is None:
            elapsed = time.monotonic() - self.started
            self.console.print(f"[{elapsed:6.1f}s] {line}", highlight=False, markup=False)

    def event(self, kind: str, folder: str, payload: dict[str, Any]) -> None:
        handler = {
            "planned": self._planned,
            "start": self._start,
            "stage": self._stage,
            "complete": self._complete,
            "retry": self._retry,
            "error": self._error,
        }.get(kind)
        if handler is not None:
            handler(folder, payload)

    def _planned(self, folder: str, payload: dict[str, Any]) -> None:
        """A trial made while the sweep runs (a search proposes as it goes)."""
        if folder not in self.running and folder not in self.finished:
            self.pending.add(folder)
            self.upcoming = max(0, self.upcoming - 1)

    def _start(self, folder: str, payload: dict[str, Any]) -> None:
        self.pending.discard(folder)
        self.running.setdefault(folder, _Running("starting", time.monotonic()))

    def _stage(self, folder: str, payload: dict[str, Any]) -> None:
        stage = str(payload.get("stage"))
        if stage == "failed":
            self._error(folder, payload)
            return
        if stage == "done":
            return
        self._start(folder, payload)
        run = self.running[folder]
        if stage != run.stage:
            run.stage, run.step, run.steps = stage, None, None
            self._line(f"{folder}: {stage}")
        if payload.get("step") is not None:
            run.step, run.steps = int(payload["step"]), int(payload.get("steps") or 0)

    def _complete(self, folder: str, payload: dict[str, Any]) -> None:
        if folder in self.failed:
            return  # a deterministic failure ends the Tune trial normally
        self.pending.discard(folder)
        self.running.pop(folder, None)
        self.finished.add(folder)
        self._line(f"{folder}: done. {self.headline()}")

    def _retry(self, folder: str, payload: dict[str, Any]) -> None:
        self._line(f"{folder}: failed ({payload.get('error')}); retrying")
        self.running.pop(folder, None)
        self.pending.add(folder)

    def _error(self, folder: str, payload: dict[str, Any]) -> None:
        self.pending.discard(folder)
        self.running.pop(folder, None)
        self.failed[folder] = str(payload.get("error"))
        self._line(f"{folder}: FAILED ({self.failed[folder]}). {self.headline()}")
