"""Reap finished workers in the background while the caller writes its outputs; always before the process exits.

A killed worker's teardown (reaping it, closing its pipes, removing a temporary probe copy) took 18-34 ms;
overlapping it with the report's writes keeps it off the quick level's wall time. On a GPU a dying process
still holds its CUDA context, so the exit handler waits for every reap: a prolog never hands the node to a
job before the worker is gone.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

_pending: list[threading.Thread] = []
_lock = threading.Lock()


def later(close: Callable[[], None]) -> None:
    """Run ``close`` in a background thread now; ``join`` (at exit at the latest) waits for it."""
    thread = threading.Thread(target=close, name="preflight-reaper", daemon=True)
    with _lock:
        if not _pending:
            atexit.register(join)
        _pending.append(thread)
    thread.start()


def join() -> None:
    """Wait for every reap ``later`` started."""
    while True:
        with _lock:
            if not _pending:
                return
            thread = _pending.pop()
        thread.join()
