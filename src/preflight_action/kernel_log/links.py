"""InfiniBand and RoCE ports as sysfs shows them: state, physical state, rate, link layer, link-down counter.

``/sys/class/infiniband/<device>/ports/<n>/{state,phys_state,rate,link_layer,counters/link_downed}``
(Linux ABI: Documentation/ABI/stable/sysfs-class-infiniband). ``PREFLIGHT_SYSFS_ROOT=DIR`` reads a
saved copy (``DIR/class/infiniband/...``) instead of ``/sys``. A host without the folder has no port.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

SYSFS_ENV = "PREFLIGHT_SYSFS_ROOT"
_RATE = r"([\d.]+)\s*Gb/sec"  # compiled by re's own cache, on a host that has a port


class Port(NamedTuple):
    device: str  # mlx5_0
    port: str  # 1
    state: str  # ACTIVE, DOWN, INIT, ARMED (the word after "4: ")
    phys_state: str  # LinkUp, Polling, Disabled, ...
    rate: str  # "400 Gb/sec (4X NDR)" as sysfs prints it
    rate_gbps: float | None
    link_layer: str  # InfiniBand | Ethernet (RoCE)
    link_downed: int | None  # times the link went down since the driver loaded

    @property
    def name(self) -> str:
        return f"{self.device}/{self.port}"


def sysfs_root() -> Path:
    return Path(os.environ.get(SYSFS_ENV) or "/sys")


def ports(root: Path | None = None) -> list[Port]:
    """Every port under ``root``/class/infiniband, sorted by device and port; none where the folder is absent."""
    base = (root or sysfs_root()) / "class" / "infiniband"
    try:
        devices = sorted(os.listdir(base))
    except OSError:
        return []
    found: list[Port] = []
    for device in devices:
        try:
            numbers = sorted(os.listdir(base / device / "ports"), key=lambda n: (len(n), n))
        except OSError:
            continue
        for number in numbers:
            folder = base / device / "ports" / number
            rate = _read(folder / "rate")
            rate_match = re.search(_RATE, rate)
            downed = _read(folder / "counters" / "link_downed")
            found.append(
                Port(
                    device=device,
                    port=number,
                    state=_word(_read(folder / "state")),
                    phys_state=_word(_read(folder / "phys_state")),
                    rate=rate,
                    rate_gbps=float(rate_match.group(1)) if rate_match else None,
                    link_layer=_read(folder / "link_layer") or "InfiniBand",
                    link_downed=int(downed) if downed.isdigit() else None,
                )
            )
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _word(value: str) -> str:
    """``4: ACTIVE`` -> ``ACTIVE`` (sysfs prints the number and the name)."""
    return value.partition(":")[2].strip() if ":" in value else value or "unknown"
