"""This POSIX interpreter made to look like Windows to our code, so the paths Windows takes run here.

Windows has no ``os.posix_spawn``, no process groups to signal (``os.killpg``, ``os.getpgid``,
``os.setsid``), no ``signal.SIGKILL`` and no ``os.fork``; they are removed for the test. Where the
standard library and psutil use what was removed on POSIX, they get their Windows behaviour:
there, ``Popen.kill`` is ``Popen.terminate`` and ``psutil.Process.kill`` is ``terminate``.
"""

from __future__ import annotations

import os
import signal
import subprocess

import psutil
import pytest

REMOVED_FROM_OS = ("posix_spawn", "posix_spawnp", "killpg", "getpgid", "setsid", "fork", "forkpty")


def make_windows_shaped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove what Windows lacks from ``os`` and ``signal`` until the test ends."""
    for name in REMOVED_FROM_OS:
        monkeypatch.delattr(os, name, raising=False)
    monkeypatch.delattr(signal, "SIGKILL", raising=False)
    monkeypatch.setattr(subprocess.Popen, "kill", subprocess.Popen.terminate)
    monkeypatch.setattr(psutil.Process, "kill", psutil.Process.terminate)
