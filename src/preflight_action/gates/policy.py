"""The gates' policy (policy/gates.yaml): how old a ``--from-report`` report may be, and the Slurm drain circuit breaker."""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight_action import policy_files

_PERCENT = re.compile(r"^(100|[0-9]{1,2})(\.[0-9]+)?%$")


@dataclass(frozen=True)
class DrainLimit:
    """Nodes already drained by preflight at which the Slurm gate drains no more: a count, or a share of the partitions."""

    count: int | None = None
    percent: float | None = None

    def nodes(self, partition_nodes: int) -> int:
        """The limit for partitions of ``partition_nodes`` nodes (a percentage rounds up)."""
        if self.count is not None:
            return self.count
        return math.ceil((self.percent or 0.0) / 100.0 * partition_nodes - 1e-9)

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"


def drain_limit(value: Any) -> DrainLimit:
    """``3`` or ``"10%"`` as a DrainLimit; ValueError naming what is wrong."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"must be at least 0, got {value}")
        return DrainLimit(count=value)
    text = str(value).strip()
    if text.isdigit():
        return DrainLimit(count=int(text))
    if _PERCENT.match(text):
        return DrainLimit(percent=float(text[:-1]))
    raise ValueError(f"{text!r} is neither a whole number of nodes nor a percentage from 0% to 100%")


def drain_limit_type(text: str) -> DrainLimit:
    """argparse type for --max-drained."""
    try:
        return drain_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class GatesPolicy:
    source: str
    max_report_age_s: float
    future_skew_s: float
    max_drained: DrainLimit


def from_document(document: dict[str, Any], source: str) -> GatesPolicy:
    return GatesPolicy(
        source=source,
        max_report_age_s=float(document["from_report"]["max_age_s"]),
        future_skew_s=float(document["from_report"]["future_skew_s"]),
        max_drained=drain_limit(document["slurm"]["max_drained"]),
    )


def load(path: str | Path | None = None) -> GatesPolicy:
    """``path``, else $PREFLIGHT_GATES_POLICY, else the shipped policy/gates.yaml."""
    return policy_files.load(policy_files.GATES, from_document, path)


def duration(seconds: float) -> str:
    """``21600`` as ``6 h``, ``90`` as ``90 s``, ``3456000`` as ``40 days``: how an age reads in one line."""
    if seconds >= 1.5 * 86400:
        return f"{seconds / 86400:.3g} days"
    if seconds >= 1.5 * 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 90:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"
