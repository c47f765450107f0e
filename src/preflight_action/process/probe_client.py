"""Run probe checks in a worker process under the diagnosed interpreter, with a timeout each.

A check that crashes, is killed or hangs costs only that worker: the caller gets
a ``WorkerFailure`` naming the signal or timeout and the last stderr lines, and
the next request starts a fresh worker.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preflight_action.process.lines import JsonLineProcess
from preflight_action.process.probe_cache import ProbeDirectory

if TYPE_CHECKING:
    from preflight_action.process.spawn import ChildProcess

__all__ = ["ProbeDirectory", "ProbeWorker", "WorkerFailure", "describe_exit", "how_it_ended", "resolve_python"]

STDERR_TAIL = 20


class WorkerFailure(Exception):
    """The worker died or timed out while running a check."""

    def __init__(self, message: str, stderr_tail: list[str]) -> None:
        self.stderr_tail = stderr_tail
        super().__init__(message)

    def describe(self) -> str:
        tail = "\n".join(self.stderr_tail[-STDERR_TAIL:])
        return f"{self}" + (f"\nlast stderr lines:\n{tail}" if tail else " (no stderr output)")


def describe_exit(returncode: int | None) -> str:
    """'killed by SIGSEGV (exit -11)' / 'access violation (0xC0000005)' / 'exit code 3'."""
    if returncode is None:
        return "no exit code"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name} (exit {returncode})"
        except ValueError:
            return f"killed by signal {-returncode}"
    if os.name == "nt" and returncode >= 0xC0000000:
        names = {0xC0000005: "access violation", 0xC00000FD: "stack overflow", 0xC0000409: "stack buffer overrun"}
        return f"{names.get(returncode, 'crashed')} (0x{returncode:08X})"
    return f"exit code {returncode}"


def how_it_ended(returncode: int | None) -> str:
    """'was killed by SIGSEGV (exit -11)' / 'ended with exit code 3': the rest of a sentence about a worker."""
    text = describe_exit(returncode)
    return f"was {text}" if text.startswith("killed") else f"ended with {text}"


class ProbeWorker:
    """One worker process; ``request`` sends a check, ``result`` waits for its answer."""

    def __init__(self, python: str, probe_dir: ProbeDirectory, started: ChildProcess | None = None) -> None:
        """Start a worker; with ``started``, take over one ``preflight.early`` started and already sent its first request."""
        self.python = python
        self.hello: dict[str, Any] | None = None
        self._sent = started is not None
        self._child = JsonLineProcess([python, probe_dir.boot_path], started=started)

    @property
    def alive(self) -> bool:
        return self._child.alive

    @property
    def process(self) -> ChildProcess:
        """The worker process (what an interruption stops)."""
        return self._child.proc

    def request(self, check_id: str, params: dict[str, Any]) -> int:
        """Send one check request; returns a stderr mark for ``result``.

        A fresh worker's first request owns everything it wrote since it started: its
        earliest lines (an interpreter's own complaint) may already have been read."""
        mark = self._child.stderr_mark if self._sent else 0
        self._sent = True
        self._child.send({"type": "check", "id": check_id, "params": params})
        return mark

    def result(self, check_id: str, timeout: float, mark: int) -> dict[str, Any]:
        """Wait for ``check_id``'s result; raise WorkerFailure on crash or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._child.next(max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                self._child.dump_stacks()  # where it hung, in its own words, before it goes
                self.kill()
                raise WorkerFailure(f"timed out after {timeout:g} s; the worker was killed", self._child.stderr_since(mark)) from None
            if message is None:
                code = self._child.exit_code(wait_s=5)
                raise WorkerFailure(f"the worker {how_it_ended(code)}", self._child.stderr_since(mark))
            if message.get("type") == "hello":
                self.hello = message
                continue
            if message.get("type") == "result" and message.get("id") == check_id:
                return message
            if self.hello is None and message.get("type") != "result":  # /bin/cat echoing our request: not our worker
                self.kill()
                lines = [*self._child.stderr_since(mark), f"[unparsable worker output] {json.dumps(message)[:300]}"]
                raise WorkerFailure("the worker sent our own request back instead of the probe's hello", lines)

    def kill(self) -> None:
        self._child.kill()

    def stop(self) -> None:
        """Kill the worker without waiting for it to go (``close`` reaps it)."""
        self._child.stop()

    def close(self) -> None:
        """Stop the worker now (waiting for torch's interpreter teardown would cost a second) and release its pipes."""
        self._child.close()


def resolve_python(python: str | None) -> tuple[str, str]:
    """(interpreter path, where it came from); a missing interpreter is the caller's usage error."""
    if not python:
        return sys.executable, "sys.executable"
    found = shutil.which(python) if os.sep not in python and "/" not in python else python
    if not found or not Path(found).exists():
        raise FileNotFoundError(python)
    return str(Path(found).absolute()), "--python"  # "./python" stays a path: Path("./python") prints as "python", a PATH lookup
