"""The identity every export labels its figures with: which node, device and level a report speaks for."""

from __future__ import annotations

from dataclasses import dataclass

from preflight_action.preflight.report import Report

DEFAULT_LEVEL = "standard"  # a report from before levels ran what is now the standard level


@dataclass(frozen=True)
class ReportIdentity:
    node: str
    device: str
    level: str
    backend: str


def identity(report: Report) -> ReportIdentity:
    node = report.host.node_id or report.host.hostname or "unknown"
    level = report.options.level or DEFAULT_LEVEL
    return ReportIdentity(node=node, device=report.resolved_device or "none", level=level, backend=report.backend or "unknown")


def remedy(check: object) -> str | None:
    """The check's ``remedy`` where the report carries one (an optional field added in a later 1.x)."""
    value = getattr(check, "remedy", None)
    return str(value) if value else None
