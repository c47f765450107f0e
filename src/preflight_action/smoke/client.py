"""Start the smoke worker (``preflight_probe.smoke_worker``) under the diagnosed interpreter and read its lines with a deadline.

The worker sees only the private copy of ``preflight_probe`` the check worker uses too; a crash
or a hang costs only the case in flight, and every line it wrote is kept.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight_action import redact
from preflight_action.process.lines import JsonLineProcess
from preflight_action.process.probe_client import ProbeDirectory, how_it_ended

if TYPE_CHECKING:
    from preflight_action.process.spawn import ChildProcess


class Deadline:
    """The whole smoke's time budget; ``timeout_s`` 0 disables it."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._end = time.monotonic() + timeout_s if timeout_s > 0 else None

    def remaining(self) -> float | None:
        return None if self._end is None else max(self._end - time.monotonic(), 0.0)

    @property
    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0


class WorkerGone(Exception):
    """The worker ended (or was killed) before the expected message."""

    def __init__(self, reason: str, stderr: list[str], timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stderr = stderr
        self.timed_out = timed_out


class SmokeWorker:
    def __init__(self, python: str, spec: dict[str, Any], log_path: Path) -> None:
        self._probe = ProbeDirectory(entry="smoke_worker")
        self._log = log_path.open("a", encoding="utf-8")
        self._log_lock = threading.Lock()
        self._log_closed = False
        try:
            self._child = JsonLineProcess([python, str(self._probe.boot), json.dumps(spec)], stderr_keep=60, on_line=self._write_log)
        except OSError:  # no such interpreter: release the log and the probe copy before the caller reports it
            self._log.close()
            self._probe.cleanup()
            raise

    def _write_log(self, line: str) -> None:
        """Append one scrubbed line to worker.log; a line that arrives after close() is dropped."""
        with self._log_lock:
            if self._log_closed:
                return
            self._log.write(redact.scrub_text(line, redact.secret_values()))  # the worker's own secrets too, once its hello came
            self._log.flush()

    def next(self, deadline: Deadline) -> dict[str, Any]:
        """The next message; WorkerGone when the worker ends or the deadline passes first."""
        try:
            message = self._child.next(deadline.remaining())
        except queue.Empty:
            self.kill()
            raise WorkerGone(
                f"the timeout guard ended the smoke after {deadline.timeout_s:g} s", self.stderr_tail(), timed_out=True
            ) from None
        if message is None:
            code = self._child.exit_code(wait_s=10)
            raise WorkerGone(f"the smoke worker {how_it_ended(code)}", self.stderr_tail())
        return message

    @property
    def process(self) -> ChildProcess:
        """The worker process (what an interruption stops)."""
        return self._child.proc

    def send(self, op: str) -> None:
        self._child.send({"op": op})

    def stderr_tail(self, lines: int = 12) -> list[str]:
        return self._child.stderr_tail(lines)

    def kill(self) -> None:
        """Kill the worker and anything it started."""
        self._child.kill()

    def close(self) -> None:
        self._child.close_stdin()
        self._child.exit_code(wait_s=10)
        with self._log_lock:
            self._log_closed = True
            self._log.close()
        self._child.close()  # anything it left running, and the readers (they close stdout and stderr)
        self._probe.cleanup()
