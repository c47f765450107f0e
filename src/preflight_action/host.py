"""Who and when: this node's identity and the UTC timestamps every artifact carries."""

from __future__ import annotations

import os
import platform
import socket
from datetime import datetime, timezone
from typing import Any


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(stamp: str) -> datetime | None:
    """An artifact's timestamp (``...Z`` or with an offset; naive means UTC) as an aware datetime, else None."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def future_skew_s() -> float:
    """How far in the future an artifact may say it finished (clocks drift): policy/gates.yaml ``future_skew_s``."""
    from preflight_action.gates import policy as gates_policy

    return gates_policy.load().future_skew_s


def from_the_future(stamp: str, field: str, source: str, skew: float | None = None, now: datetime | None = None) -> str | None:
    """Why a document finished at ``stamp`` cannot be taken as it is (it claims a time past ``now`` and the clock skew
    policy/gates.yaml allows: it would read as fresh forever and lead every "latest"), else None. A reader of many
    files passes ``skew`` and ``now`` once."""
    moment = parse_utc(stamp)
    if moment is None:
        return None  # the schema says what is wrong with a time that is no time
    skew = future_skew_s() if skew is None else skew
    ahead = (moment - (now or datetime.now(timezone.utc))).total_seconds()
    if ahead <= skew:
        return None
    return f"{source}: {field}: {stamp} is {ahead:.0f} s in the future (more than the {skew:g} s of clock skew allowed)"


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
