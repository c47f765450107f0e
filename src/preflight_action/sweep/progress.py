"""Progress while a sweep runs: a rich bar on a terminal, plain lines in CI logs."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    """``start(total)``, ``step_done(point_id, record)``, ``close()``."""

    def __init__(self, stream: TextIO | None = None, force_plain: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.rich = not force_plain and self.stream.isatty()
        self.done = 0
        self.total = 0
        self._bar: Any = None
        self._task: Any = None

    def start(self, total: int, label: str) -> None:
        self.total = total
        if self.rich:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)
        else:
            print(f"sweep: {label}: {total} step(s) to run", file=self.stream, flush=True)

    def step_done(self, point_id: str, record: dict[str, Any]) -> None:
        self.done += 1
        line = f"[{self.done}/{self.total}] {point_id} {record['step']}: {record['status']} in {record['duration_s']:.2f}s"
        if record.get("error"):
            line += f" ({record['error'][:160]})"
        if self.rich:
            self._bar.update(self._task, advance=1, description=f"{point_id} {record['step']}")
            if record["status"] not in ("passed", "skipped"):
                self._bar.console.print(line)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
