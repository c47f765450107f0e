"""Who and when: this node's identity and the UTC timestamps every artifact carries."""

from __future__ import annotations

import os
import platform
import socket
from datetime import datetime, timezone
from typing import Any


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def node_id(environ: dict[str, str] | None = None) -> str:
    """PREFLIGHT_NODE_ID, else the Actions runner name, else the hostname."""
    env = os.environ if environ is None else environ
    return env.get("PREFLIGHT_NODE_ID") or env.get("RUNNER_NAME") or socket.gethostname() or "unknown"


def host_identity() -> dict[str, Any]:
    env = os.environ
    return {
        "node_id": node_id(),
        "hostname": socket.gethostname(),
        "os": platform.system(),
        "arch": platform.machine(),
        "runner_name": env.get("RUNNER_NAME"),
        "runner_os": env.get("RUNNER_OS"),
        "runner_arch": env.get("RUNNER_ARCH"),
    }
