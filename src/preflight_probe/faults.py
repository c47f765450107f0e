"""Fault injection for testing the orchestrator's isolation on real checks.

``PREFLIGHT_INJECT_FAULT="tensor.smoke=segfault,dtype.support=hang"`` makes the
worker crash or hang when it reaches those checks. Kinds: segfault, hang, exit.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

ENV_VAR = "PREFLIGHT_INJECT_FAULT"


def planned() -> dict[str, str]:
    spec = os.environ.get(ENV_VAR, "")
    pairs = (item.split("=", 1) for item in spec.split(",") if "=" in item)
    return {check.strip(): kind.strip() for check, kind in pairs}


def maybe_inject(check_id: str) -> None:
    kind = planned().get(check_id)
    if kind is None:
        return
    print(f"preflight_probe: injecting {kind} into {check_id}", file=sys.stderr, flush=True)
    if kind == "segfault":
        ctypes.string_at(0)  # a real invalid read: SIGSEGV on POSIX, access violation on Windows
    elif kind == "hang":
        while True:
            time.sleep(3600)
    elif kind == "exit":
        os._exit(3)
