"""Start one of this tool's console scripts the way pip's wrapper runs it, ready to be interrupted at a chosen moment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def started(entry: str, prog: str, argv: list[str]) -> subprocess.Popen[str]:
    """``prog ARGV`` through ``preflight_entry.<entry>`` (import the entry, call it), returned once it is about to be
    called: a Ctrl-C inside CPython's own start-up (importing site) is CPython's to report, not this tool's."""
    read, write = os.pipe()
    boot = (
        f"import os, sys; from preflight_entry import {entry} as main; fd = int(sys.argv.pop(1)); "
        f"os.write(fd, b'.'); os.close(fd); sys.argv[0] = {prog!r}; raise SystemExit(main())"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", boot, str(write), *argv],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        pass_fds=(write,),
    )
    os.close(write)
    os.read(read, 1)
    os.close(read)
    return proc
