"""Start the smoke worker (runner.py) under the diagnosed interpreter and read its lines with a deadline.

The worker sees only a private copy of ``runner.py`` and ``models.py``; a crash
or a hang costs only the case in flight, and every line it wrote is kept.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

from preflight_action import redact
from preflight_action.processes import kill_tree
from preflight_action.worker_client import describe_exit

HERE = Path(__file__).resolve().parent


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
        self._dir = Path(tempfile.mkdtemp(prefix="preflight-smoke-"))
        for name in ("runner.py", "models.py"):
            shutil.copy2(HERE / name, self._dir / name)
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=60)
        self._secrets = redact.secret_values()
        self._log = log_path.open("a", encoding="utf-8")
        self._log_lock = threading.Lock()
        self._log_closed = False
        self._proc = subprocess.Popen(
            [python, str(self._dir / "runner.py"), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        assert self._proc.stdout
        assert self._proc.stderr
        self._threads = [
            threading.Thread(target=self._pump_stdout, args=(self._proc.stdout,), daemon=True),
            threading.Thread(target=self._pump_stderr, args=(self._proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _write_log(self, line: str) -> None:
        """Append one scrubbed line to worker.log; a line that arrives after close() is dropped."""
        with self._log_lock:
            if self._log_closed:
                return
            self._log.write(redact.scrub_text(line, self._secrets))
            self._log.flush()

    def _pump_stdout(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):  # close() closed the stream under a late writer
            for line in stream:
                self._write_log(line)
                try:
                    self._messages.put(json.loads(line))
                except json.JSONDecodeError:
                    self._stderr.append(f"[unparsable worker output] {line.rstrip()[:300]}")
        self._messages.put(None)

    def _pump_stderr(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                self._stderr.append(line.rstrip("\n")[:500])

    def next(self, deadline: Deadline) -> dict[str, Any]:
        """The next message; WorkerGone when the worker ends or the deadline passes first."""
        try:
            message = self._messages.get(timeout=deadline.remaining())
        except queue.Empty:
            self.kill()
            raise WorkerGone(
                f"the timeout guard ended the smoke after {deadline.timeout_s:g} s", self.stderr_tail(), timed_out=True
            ) from None
        if message is None:
            code = self._wait_exit()
            for thread in self._threads:
                thread.join(timeout=2)
            raise WorkerGone(f"the smoke worker {describe_exit(code)}", self.stderr_tail())
        return message

    def send(self, op: str) -> None:
        assert self._proc.stdin
        try:
            self._proc.stdin.write(json.dumps({"op": op}) + "\n")
            self._proc.stdin.flush()
        except OSError:
            pass  # it already died; next() says how

    def stderr_tail(self, lines: int = 12) -> list[str]:
        return list(self._stderr)[-lines:]

    def _wait_exit(self) -> int | None:
        try:
            return self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            return self._proc.returncode

    def kill(self) -> None:
        """Kill the worker and anything it started."""
        kill_tree(self._proc)

    def close(self) -> None:
        if self._proc.stdin:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        self._wait_exit()
        for thread in self._threads:
            thread.join(timeout=2)
        with self._log_lock:
            self._log_closed = True
            self._log.close()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self._dir, ignore_errors=True)
