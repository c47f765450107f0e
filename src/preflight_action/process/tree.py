"""Stop a child process and everything it started (inductor compile workers, for instance).

One implementation for the probe worker, the smoke worker, sweep steps and the action helper:
the descendants psutil can see (in any process group or session, on every OS), plus, on POSIX,
the process group ``proc`` leads when it was started with ``start_new_session`` (which also
reaches orphans whose parent already exited, so psutil no longer links them to ``proc``).
Only the standard library is imported at module level; psutil is optional at run time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: preflight.early loads this before the worker starts
if TYPE_CHECKING:
    from typing import Any

    from preflight_action.process.spawn import Reapable

GRACE_S = 5.0


def _descendants(proc: Reapable) -> list[Any]:
    try:
        import psutil

        return list(psutil.Process(proc.pid).children(recursive=True))
    except Exception:  # already gone, or psutil cannot see it (or is not installed)
        return []


def warm() -> None:
    """Import psutil now, while the caller waits on something else, rather than inside its first ``kill_tree``."""
    with contextlib.suppress(Exception):  # not installed: kill_tree then signals the group and the process only
        import psutil  # noqa: F401


def _own_group(proc: Reapable) -> int | None:
    """The process group ``proc`` leads (where there are groups to signal, not yet reaped), else None; never our own group."""
    # Windows has neither: its descendants are reached through psutil alone.
    if not (hasattr(os, "getpgid") and hasattr(os, "killpg") and hasattr(signal, "SIGKILL")) or proc.returncode is not None:
        return None
    try:
        pgid: int = os.getpgid(proc.pid)
        ours: int = os.getpgid(0)
    except OSError:
        return None
    return pgid if pgid == proc.pid and pgid != ours else None


def _in_group(pid: int, group: int | None) -> bool:
    """Whether ``pid`` is in ``group`` (a gone process, or no group, is not)."""
    if group is None or not hasattr(os, "getpgid"):
        return False
    try:
        return bool(os.getpgid(pid) == group)
    except OSError:
        return False


def _signal_all(proc: Reapable, descendants: list[Any], group: int | None, hard: bool) -> None:
    """Signal the group once, then each process outside it (one SIGTERM per process: some treat a second as 'force')."""
    if group is not None and hasattr(os, "killpg") and hasattr(signal, "SIGKILL"):
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL if hard else signal.SIGTERM)
    for child in descendants:
        if not _in_group(child.pid, group):
            with contextlib.suppress(Exception):  # gone since, or not ours to signal
                child.kill() if hard else child.terminate()
    if proc.poll() is None and (hard or group is None):
        with contextlib.suppress(OSError):
            proc.kill() if hard else proc.terminate()


def _escalate(proc: Reapable, descendants: list[Any], group: int | None, wait_s: float) -> None:
    """The graceful stop's second half: kill what is left, children started since the SIGTERM included."""
    known = {child.pid for child in descendants}
    late = [child for child in _descendants(proc) if child.pid not in known]
    _signal_all(proc, descendants + late, group, hard=True)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait_s)


def kill_tree(proc: Reapable, wait_s: float = 5.0, *, graceful: bool = False, grace_s: float = GRACE_S) -> None:
    """Kill ``proc``'s descendants (and the group it leads), then ``proc``, then reap it within ``wait_s``; never raises.

    ``graceful``: send SIGTERM (``terminate`` on Windows) to the same processes and return at once;
    a daemon timer kills whatever is still running ``grace_s`` later. It never blocks, so a signal
    handler may call it.
    """
    descendants = _descendants(proc)
    group = _own_group(proc)
    if graceful:
        _signal_all(proc, descendants, group, hard=False)
        escalate = threading.Timer(grace_s, _escalate, args=(proc, descendants, group, wait_s))
        escalate.daemon = True
        escalate.start()
        return
    _signal_all(proc, descendants, group, hard=True)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait_s)
