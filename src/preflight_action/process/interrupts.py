"""SIGINT / SIGTERM during a run: a flag, the child in flight stopped, and the exit code a shell expects.

One mechanism for the sweep, the preflight and the smoke: inside ``with Interrupted() as guard``
the first signal sets ``guard.signal_name`` and stops ``guard.current`` (SIGTERM, then SIGKILL
after a grace period, via ``tree.kill_tree``); the run notices the flag, records what it has
with the unfinished work marked as not run, and exits ``128 + signal number`` (130 for Ctrl-C).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from preflight_action.process.tree import kill_tree

if TYPE_CHECKING:
    from preflight_action.process.spawn import Reapable

KILL_GRACE_S = 5.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signal_name: str) -> int:
    """130 for any interruption (SIGINT or SIGTERM): one code CI can tell from 1 (strict blocked) and 2 (bad input);
    which signal it was is in the one line printed and in the artifact's ``interrupted_by``."""
    signal.Signals[signal_name]  # an unknown name is a programming error, not an exit code
    return 130


def not_run_reason(signal_name: str) -> str:
    """The skip reason of work the interruption kept from running (or stopped before it finished)."""
    return f"not run: the run was interrupted by {signal_name}"


class Interrupted:
    """Turns SIGINT/SIGTERM into a flag and stops the child process in flight."""

    def __init__(self, grace_s: float = KILL_GRACE_S) -> None:
        self.signal_name: str | None = None
        self.grace_s = grace_s
        self._current: Reapable | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupted:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            if handler is not None:  # None: a handler installed outside Python, which cannot be put back from here
                signal.signal(sig, handler)
        self._previous.clear()

    @property
    def current(self) -> Reapable | None:
        return self._current

    @current.setter
    def current(self, proc: Reapable | None) -> None:
        """The child to stop on a signal; one started after the signal landed is stopped at once."""
        self._current = proc
        if proc is not None and self.stopped:
            kill_tree(proc, graceful=True, grace_s=self.grace_s)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        if self._current is not None:
            kill_tree(self._current, graceful=True, grace_s=self.grace_s)

    @property
    def stopped(self) -> bool:
        return self.signal_name is not None

    @property
    def reason(self) -> str:
        return not_run_reason(self.signal_name or "a signal")
