"""Start a child with three pipes with nothing but ``os`` loaded: the worker the run waits on starts first.

``subprocess`` pulls in locale, re, enum and selectors: 8 to 12 ms before the first
fork, on the path where the orchestrator starts the worker whose torch import is
the run's floor. ``os.posix_spawn`` (Linux, macOS and the BSDs) starts it in about
a millisecond; ``SpawnedChild`` is the part of ``subprocess.Popen``'s interface our
clients use (``lines``, ``tree.kill_tree``, ``interrupts``). Where there
is no posix_spawn (Windows), ``spawn`` returns a ``subprocess.Popen`` instead.
"""

from __future__ import annotations

import _thread
import os
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms on this path)
if TYPE_CHECKING:
    import subprocess
    from typing import IO, Any, Protocol

    class Reapable(Protocol):
        """What ``tree.kill_tree`` and ``interrupts`` use of a child: any ``subprocess.Popen`` is one."""

        @property
        def pid(self) -> int: ...
        @property
        def returncode(self) -> int | Any: ...
        def poll(self) -> int | None: ...
        def wait(self, timeout: float | None = None) -> int: ...
        def send_signal(self, sig: int) -> None: ...
        def terminate(self) -> None: ...
        def kill(self) -> None: ...

    class ChildProcess(Reapable, Protocol):
        """A child with text pipes, as ``lines`` reads it: ``subprocess.Popen[str]`` and ``SpawnedChild``."""

        @property
        def stdin(self) -> IO[str] | None: ...
        @property
        def stdout(self) -> IO[str] | None: ...
        @property
        def stderr(self) -> IO[str] | None: ...


def _inheritable_fds(exclude: list[int]) -> list[int]:
    """Our descriptors above 2 that a child would inherit (what ``Popen(close_fds=True)`` closes in the child).

    Python opens everything non-inheritable; these come from a parent (``pass_fds``) or a C library.
    """
    for listing in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(listing)
        except OSError:
            continue
        found = []
        for name in names:
            fd = int(name)
            if fd > 2 and fd not in exclude:
                try:
                    if os.get_inheritable(fd):
                        found.append(fd)
                except OSError:  # the listing's own descriptor, closed since
                    continue
        return found
    return []


if sys.platform != "win32":  # posix_spawn, waitpid(WNOHANG) and SIGKILL: Linux, macOS and the BSDs

    class SpawnedChild:
        """A child started by ``os.posix_spawn`` with its stdin, stdout and stderr piped, read and written as UTF-8 text."""

        def __init__(self, argv: list[str]) -> None:
            self.args = argv
            self.returncode: int | None = None
            self._lock = _thread.allocate_lock()  # poll() from a signal handler's thread and wait() must not both reap
            fds = [*os.pipe(), *os.pipe(), *os.pipe()]  # non-inheritable; dup2 makes the child's copies inheritable
            stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w = fds
            actions: list[tuple[int, ...]] = [
                (os.POSIX_SPAWN_DUP2, stdin_r, 0),
                (os.POSIX_SPAWN_DUP2, stdout_w, 1),
                (os.POSIX_SPAWN_DUP2, stderr_w, 2),
            ]
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds(exclude=fds)]
            try:
                self.pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
            except BaseException:
                for fd in fds:
                    os.close(fd)
                raise
            for fd in (stdin_r, stdout_w, stderr_w):
                os.close(fd)
            # As subprocess.Popen(text=True, encoding="utf-8", errors="replace", bufsize=1) makes them.
            self.stdin: IO[str] | None = open(stdin_w, "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
            self.stdout: IO[str] | None = open(stdout_r, encoding="utf-8", errors="replace")  # noqa: SIM115
            self.stderr: IO[str] | None = open(stderr_r, encoding="utf-8", errors="replace")  # noqa: SIM115

        def _reap(self, flags: int) -> int | None:
            if self.returncode is not None:
                return self.returncode
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): its status is gone, as subprocess assumes
                self.returncode = 0
                return 0
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

        def poll(self) -> int | None:
            """The exit code (negative: the signal) once it ended, else None; never blocks."""
            if self.returncode is None and self._lock.acquire(False):
                try:
                    return self._reap(os.WNOHANG)
                finally:
                    self._lock.release()
            return self.returncode

        def wait(self, timeout: float | None = None) -> int:
            """Reap it; ``subprocess.TimeoutExpired`` when ``timeout`` seconds pass first."""
            if timeout is None:
                with self._lock:
                    code = self._reap(0)
                assert code is not None
                return code
            deadline = time.monotonic() + timeout
            delay = 0.0005
            while True:
                code = self.poll()
                if code is not None:
                    return code
                left = deadline - time.monotonic()
                if left <= 0:
                    import subprocess

                    raise subprocess.TimeoutExpired(self.args, timeout)
                delay = min(delay * 2, left, 0.05)
                time.sleep(delay)

        def send_signal(self, sig: int) -> None:
            if self.poll() is None:
                import contextlib

                with contextlib.suppress(ProcessLookupError):  # ended between the poll and the signal
                    os.kill(self.pid, sig)

        def terminate(self) -> None:
            import signal

            self.send_signal(signal.SIGTERM)

        def kill(self) -> None:
            import signal

            self.send_signal(signal.SIGKILL)


def popen_piped(argv: list[str]) -> subprocess.Popen[str]:
    """``argv`` with its three pipes through ``subprocess.Popen``, as ``lines.JsonLineProcess`` reads them."""
    import subprocess

    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    )


def spawn(argv: list[str]) -> ChildProcess:
    """``argv`` started with its three pipes: a ``SpawnedChild`` where posix_spawn exists, else a ``subprocess.Popen``."""
    if sys.platform != "win32" and hasattr(os, "posix_spawn") and os.path.isabs(argv[0]):
        return SpawnedChild(argv)
    return popen_piped(argv)
