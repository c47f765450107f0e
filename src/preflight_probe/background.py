"""Work the worker starts before torch's import and reads back later: a forked child, on another CPU.

The RECORD check stats ~17,000 files (0.1-0.2 s); started in a child as the import begins, it is done
long before ``install.record`` asks, and the quick level does not wait for it. Linux only (fork before any
thread exists is safe there); elsewhere ``start`` declines and the check runs inline. The child writes
one JSON document on a pipe and exits; its result is kept once read, for every later reader.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any

_JOBS: dict[str, tuple[int, int]] = {}  # name -> (child pid, read end of its pipe)
_DONE: dict[str, Any] = {}


def start(name: str, work: Callable[[], Any]) -> bool:
    """Run ``work()`` in a forked child at low priority; False where this platform does not fork safely."""
    if name in _JOBS or name in _DONE or sys.platform != "linux" or not hasattr(os, "fork"):
        return False
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return False
    if pid == 0:  # the child: never returns into the worker's loop
        code = 0
        try:
            os.close(read)
            _detach(write)
            with contextlib.suppress(OSError):
                os.nice(19)  # the lowest priority: torch's import in the parent, and the orchestrator's, come first on a busy machine
            data = json.dumps(work(), default=str).encode("utf-8")
            view = memoryview(data)
            while view:
                view = view[os.write(write, view) :]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    _JOBS[name] = (pid, read)
    return True


def _detach(keep: int) -> None:
    """Hold none of the worker's pipes (the orchestrator waits for their end), only ``keep``."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, max(keep + 1, _max_fd()))


def _max_fd() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return 1024


def result(name: str, timeout_s: float) -> Any:
    """What the child ``name`` produced (None when it failed, timed out or was never started); kept once read."""
    if name in _DONE:
        return _DONE[name]
    job = _JOBS.pop(name, None)
    if job is None:
        return None
    pid, read = job
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read], [], [], left)[0]:
                break
            chunk = os.read(read, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read)
    _reap(pid)
    try:
        value = json.loads(b"".join(chunks).decode("utf-8")) if chunks else None
    except ValueError:
        value = None
    _DONE[name] = value
    return value


def _reap(pid: int) -> None:
    if sys.platform == "win32":  # start() forks on Linux alone: nothing of ours to reap here
        return
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, 9)  # still running past the wait: its answer is not coming
            os.waitpid(pid, 0)
    except OSError:
        pass
