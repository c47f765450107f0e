"""A child process that answers with one JSON object per stdout line (the probe and smoke workers).

Reader threads turn stdout into a message queue (``None`` marks its end) and
keep a bounded tail of stderr, so a crash can be explained by its last lines.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from preflight_action import redact
from preflight_action.process.spawn import popen_piped
from preflight_action.process.tree import kill_tree

if TYPE_CHECKING:
    from preflight_action.process.spawn import ChildProcess


class JsonLineProcess:
    def __init__(
        self,
        argv: list[str],
        stderr_keep: int = 200,
        on_line: Callable[[str], None] | None = None,
        started: ChildProcess | None = None,
    ) -> None:
        """Start ``argv``; or, with ``started``, take over a child ``spawn.spawn(argv)`` already started (nothing read yet)."""
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=stderr_keep)
        self._stderr_seen = 0
        self._stderr_lock = threading.Lock()  # two readers append to the one tail; its count must not lose a line
        self._on_line = on_line
        self._stopped = False
        self.proc = started if started is not None else popen_piped(argv)
        assert self.proc.stdout
        assert self.proc.stderr
        self._threads = [
            threading.Thread(target=self._pump_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._pump_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump_stdout(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):  # the stream was closed under a late writer
            for raw in stream:
                line = raw
                try:
                    message = json.loads(line)
                    if not isinstance(message, dict):  # "42" or "[]" from something that is not our worker
                        raise json.JSONDecodeError("not an object", line, 0)
                except json.JSONDecodeError:
                    if self._on_line is not None:
                        self._on_line(line)
                    self._note(f"[unparsable worker output] {line.rstrip()[:300]}")  # counted like a stderr line
                    continue
                if message.get("type") == "hello" and "secrets" in message:
                    # The diagnosed interpreter's own secrets: scrubbed from everything written from now on, kept nowhere.
                    redact.learn(message.pop("secrets") or ())
                    line = json.dumps(message) + "\n"
                if self._on_line is not None:
                    self._on_line(line)
                self._messages.put(message)
        _close_quietly(stream)  # also after a read error: the fd is ours to release
        self._messages.put(None)

    def _pump_stderr(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                self._note(line.rstrip("\n")[:1000])
        _close_quietly(stream)

    def _note(self, line: str) -> None:
        with self._stderr_lock:
            self._stderr.append(line)
            self._stderr_seen += 1

    def dump_stacks(self, wait_s: float = 1.0) -> None:
        """Ask the worker for every thread's stack (faulthandler on SIGUSR1) and wait until it has printed it."""
        import signal
        import time

        usr1 = getattr(signal, "SIGUSR1", None)
        if usr1 is None or not self.alive:
            return
        before = self._stderr_seen
        with contextlib.suppress(OSError):
            self.proc.send_signal(usr1)
        deadline = time.monotonic() + wait_s
        seen, still_since = before, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if self._stderr_seen != seen:
                seen, still_since = self._stderr_seen, time.monotonic()
            elif seen != before and time.monotonic() - still_since > 0.15:
                return  # the dump came and ended

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def stderr_mark(self) -> int:
        return self._stderr_seen

    def stderr_since(self, mark: int) -> list[str]:
        with self._stderr_lock:
            new = self._stderr_seen - mark
            lines = list(self._stderr)
        return lines[-new:] if new > 0 else []

    def stderr_tail(self, lines: int) -> list[str]:
        return list(self._stderr)[-lines:]

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON line; a child that already died is reported by ``next``, not here."""
        assert self.proc.stdin
        with contextlib.suppress(OSError):
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()

    def next(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or None once stdout ended; ``queue.Empty`` when ``timeout`` passes first."""
        return self._messages.get(timeout=timeout)

    def exit_code(self, wait_s: float) -> int | None:
        """Wait for the exit (killing after ``wait_s``) and for the readers, whose last lines explain it."""
        try:
            code: int | None = self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        for thread in self._threads:
            thread.join(timeout=2)
        return code

    def close_stdin(self) -> None:
        """Close our end of the child's stdin; a line still buffered for a dead child is dropped, the fd is not leaked."""
        if self.proc.stdin:
            _close_quietly(self.proc.stdin)

    def stop(self) -> None:
        """Kill the child (and what it started) without waiting for it to go: ``close`` reaps it later.

        The kernel takes tens of milliseconds to tear down a process that imported torch; a caller with
        other work to do (writing the report) does it meanwhile instead of waiting here.
        """
        if not self._stopped:
            self._stopped = True
            self.close_stdin()
            kill_tree(self.proc, wait_s=0)

    def close(self) -> None:
        """Stop the child now and release every pipe; safe to call twice and for a child that already died.

        A child that exits at once leaves our stdin pipe open with a request still buffered in it:
        without this the fd stays open until garbage collection (a ResourceWarning, an fd per restart).
        """
        self.stop()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=2)  # the readers close stdout and stderr at end of file

    def kill(self) -> None:
        """Kill the child and anything it started (inductor compile workers, for instance)."""
        kill_tree(self.proc)


def _close_quietly(stream: IO[str]) -> None:
    """Close a pipe whatever the child did: a failed flush (BrokenPipeError) still releases the fd."""
    try:
        stream.close()
    except (OSError, ValueError):
        raw = getattr(getattr(stream, "buffer", None), "raw", None)
        if raw is not None:
            with contextlib.suppress(OSError, ValueError):
                raw.close()
