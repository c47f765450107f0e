"""Stop a child process and everything it started (inductor compile workers, for instance)."""

from __future__ import annotations

import contextlib
import subprocess
from typing import Any


def kill_tree(proc: subprocess.Popen[Any], wait_s: float = 5.0) -> None:
    """Kill ``proc``'s descendants, then ``proc``, then reap it; never raises."""
    try:
        import psutil

        children = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # already gone, or psutil cannot see it
        children = []
    for child in children:
        with contextlib.suppress(Exception):
            child.kill()
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait_s)
