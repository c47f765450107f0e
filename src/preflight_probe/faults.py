"""Fault injection for testing the orchestrator's isolation on real checks.

``PREFLIGHT_INJECT_FAULT="tensor.smoke=segfault,dtype.support=hang"`` makes the
worker crash or hang when it reaches those checks. Kinds: segfault, hang, exit.
``memory.pattern=corrupt`` flips every bit of a few bytes once, in the check's verify step
(``corrupt``): the planted corruption the memory check must find.
Multi-process checks (``distributed.allreduce``, ``gang.allreduce``) also take ``kind:rankN`` to hit one
rank only, and the kind ``wrong`` (that rank corrupts its collective's result); ``gang.allreduce`` also
takes ``slow`` (that rank adds a quarter second to each of its link transfers: a slow member).
With ``PREFLIGHT_INJECT_FAULT_MARK=path`` set, the worker appends ``where kind`` to that file as it injects,
so a test knows the fault is in flight without reading the tool's progress lines.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from typing import Any

ENV_VAR = "PREFLIGHT_INJECT_FAULT"
MARK_VAR = "PREFLIGHT_INJECT_FAULT_MARK"


def planned() -> dict[str, str]:
    spec = os.environ.get(ENV_VAR, "")
    pairs = (item.split("=", 1) for item in spec.split(",") if "=" in item)
    return {check.strip(): kind.strip() for check, kind in pairs}


def for_rank(check_id: str, rank: int) -> str | None:
    """The fault planned for ``rank`` of a multi-process check: ``kind`` hits every rank, ``kind:rankN`` rank N only."""
    kind, _, target = planned().get(check_id, "").partition(":")
    if not kind or (target and target != f"rank{rank}"):
        return None
    return kind


def maybe_inject(check_id: str) -> None:
    kind = planned().get(check_id)
    if kind is None:
        return
    inject(kind, check_id)


def inject(kind: str, where: str) -> None:
    """Crash (segfault, exit) or hang here; other kinds are the caller's to act on."""
    print(f"preflight_probe: injecting {kind} into {where}", file=sys.stderr, flush=True)
    mark = os.environ.get(MARK_VAR)
    if mark:
        with open(mark, "a", encoding="utf-8") as out:
            out.write(f"{where} {kind}\n")
    if kind == "segfault":
        ctypes.string_at(0)  # a real invalid read: SIGSEGV on POSIX, access violation on Windows
    elif kind == "hang":
        while True:
            time.sleep(3600)
    elif kind == "exit":
        os._exit(3)


CORRUPT_OFFSETS = (0, 4097, 65_537)
_corrupted: set[str] = set()


def corrupt(check_id: str, buffer: Any) -> list[int]:
    """With ``check_id=corrupt`` planned, flip every bit of a few bytes of ``buffer`` (flat uint8), once per worker."""
    if planned().get(check_id) != "corrupt" or check_id in _corrupted:
        return []
    _corrupted.add(check_id)
    offsets = [offset for offset in CORRUPT_OFFSETS if offset < buffer.numel()]
    for offset in offsets:
        buffer[offset] = int(buffer[offset]) ^ 0xFF
    print(f"preflight_probe: corrupted {len(offsets)} byte(s) of {check_id}'s buffer at {offsets}", file=sys.stderr, flush=True)
    return offsets
