"""Smoke run directories (``<root>/run.<UTC time>-<id>``) and their pruning.

Keep the newest ``keep_recent`` runs, drop runs older than ``retention_secs``
(0 disables age pruning), never touch a run pinned with a ``.keep`` marker.
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

PREFIX = "run."
PIN_MARKER = ".keep"


@dataclass(frozen=True)
class Pruned:
    removed: tuple[str, ...]
    kept: tuple[str, ...]
    pinned: tuple[str, ...]


def new_run_dir(root: str | Path, now: datetime | None = None) -> Path:
    """Create ``run.<YYYYmmddTHHMMSSZ>-<6 hex>`` under ``root``; names sort by time."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    path = Path(root) / f"{PREFIX}{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def run_id(path: Path) -> str:
    return path.name.removeprefix(PREFIX)


def pin(path: Path, reason: str = "pinned with --keep") -> None:
    (path / PIN_MARKER).write_text(reason + "\n", encoding="utf-8")


def is_pinned(path: Path) -> bool:
    return (path / PIN_MARKER).exists()


def run_dirs(root: str | Path) -> list[Path]:
    """Run directories under ``root``, newest first (by name, which starts with the UTC time)."""
    base = Path(root)
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if p.is_dir() and p.name.startswith(PREFIX)]
    # The name's UTC second first; within one second the random suffix says nothing, so the
    # directory's last write decides (runs in a loop or a test land in the same second).
    return sorted(runs, key=lambda p: (p.name.split("-", 1)[0], p.stat().st_mtime_ns), reverse=True)


def prune(root: str | Path, keep_recent: int, retention_secs: float = 0, now: float | None = None, protect: Path | None = None) -> Pruned:
    """Remove unpinned runs beyond the newest ``keep_recent`` or older than ``retention_secs``."""
    clock = time.time() if now is None else now
    removed, kept, pinned = [], [], []
    unpinned_seen = 0
    runs = run_dirs(root)
    if protect is not None:  # the run being written is the newest, whatever the clock says
        runs.sort(key=lambda p: p.resolve() != protect.resolve())
    for path in runs:
        if is_pinned(path):
            pinned.append(path.name)
            continue
        unpinned_seen += 1
        if protect is not None and path.resolve() == protect.resolve():
            kept.append(path.name)  # the run being written counts as one of the recent ones
            continue
        too_many = unpinned_seen > keep_recent
        too_old = retention_secs > 0 and clock - path.stat().st_mtime > retention_secs
        if too_many or too_old:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        else:
            kept.append(path.name)
    return Pruned(tuple(removed), tuple(kept), tuple(pinned))
