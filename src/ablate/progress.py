"""What the terminal shows while a sweep runs: trials done, running, failed, and stages.

On a terminal it is a live table; elsewhere (CI, a log file) one line per event, so a log
reads as a history instead of a smear of redraws.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


class SweepProgress:
    def __init__(self, folders: list[str], already_done: int, console: Console | None = None):
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.pending = set(folders)
        self.running: dict[str, str] = {}
        self.done, self.failed, self.already_done = 0, 0, already_done
        self.started = time.monotonic()
        self.live: Live | None = None

    def __enter__(self) -> SweepProgress:
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)

    def _headline(self) -> str:
        return (
            f"trials: {self.done + self.already_done} done"
            f" ({self.already_done} from earlier runs), {len(self.running)} running, "
            f"{self.failed} failed, {len(self.pending)} waiting"
        )

    def _render(self) -> Group:
        table = Table("running trial", "stage", box=None)
        for folder, stage in sorted(self.running.items()):
            table.add_row(folder, stage)
        elapsed = f"  [{time.monotonic() - self.started:.0f}s]"
        return Group(Text(self._headline() + elapsed, style="bold"), table)

    def _changed(self, line: str) -> None:
        if self.live is not None:
            self.live.update(self._render())
        else:
            self.console.print(f"[{time.monotonic() - self.started:6.1f}s] {line}", highlight=False)

    def event(self, kind: str, folder: str, payload: dict[str, Any]) -> None:
        self.pending.discard(folder)
        if kind == "stage" and payload.get("stage") != "done":
            self.running[folder] = str(payload.get("stage"))
            self._changed(f"{folder}: {payload.get('stage')}")
        elif kind == "complete":
            self.running.pop(folder, None)
            self.done += 1
            self._changed(f"{folder}: done. {self._headline()}")
        elif kind == "error":
            self.running.pop(folder, None)
            self.failed += 1
            self._changed(f"{folder}: FAILED ({payload.get('error_file')}). {self._headline()}")
