"""History records: one line per report per summarize run, built from the typed report.

A record keeps what trends need and no more (each check's status and duration,
the perf figures, the SKU and software the node ran), so a year of nightly runs
of a fleet stays a file that is quick to carry and to read.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from preflight_action.preflight.report import Report

SCHEMA_NAME = "history_record"
SCHEMA_VERSION = "1.1"  # 1.1: started_at and report_id (a report's identity: appends are idempotent), status incomplete
FIGURE_CHECKS = ("perf.matmul", "perf.bandwidth")

SeriesKey = tuple[str, str, Any, Any, Any]  # node, backend, sku, torch, driver
Identity = tuple[str, ...]


def report_id(report: Report) -> str:
    """sha256 of what makes a report itself: node, start, end, environment fingerprint, each check's id, status, duration.

    The same report file summarized twice (a re-run job) has the same id; two runs never do.
    """
    payload = {
        "node": report.host.node_id,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "fingerprint": report.env_fingerprint.sha256,
        "checks": [[c.id, c.status, round(c.duration_ms, 3)] for c in report.checks],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def identity(record: dict[str, Any]) -> Identity:
    """Whose record this is: (node, started_at, report_id) from 1.1; (node, finished_at) for a 1.0 record."""
    if record.get("report_id"):
        return ("report", record["node"], record.get("started_at") or "", record["report_id"])
    return ("legacy", record["node"], record["finished_at"])


def identities(record: dict[str, Any]) -> tuple[Identity, Identity]:
    """Both keys a new record may already be known under (a 1.0 history has only the second)."""
    return identity(record), ("legacy", record["node"], record["finished_at"])


def from_report(report: Report, at: str, backend: str, run_url: str | None) -> dict[str, Any] | None:
    """The record of one report (None for a simulated run: its figures are not the node's)."""
    if report.simulated:
        return None
    caps = report.check("capabilities.detect")
    facts = caps.details if caps is not None else {}
    figures: dict[str, dict[str, float]] = {}
    for check_id in FIGURE_CHECKS:
        check = report.check(check_id)
        measured = (check.details.get("figures") if check is not None else None) or {}
        kept = {k: float(v) for k, v in measured.items() if isinstance(v, (int, float)) and math.isfinite(v) and v >= 0}
        if kept:
            figures[check_id] = kept
    return {  # key order is the file's: at, node, backend lead every line
        "at": at,
        "node": report.host.node_id,
        "backend": backend,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "report_id": report_id(report),
        "sku": facts.get("device_name"),
        "torch": facts.get("torch_version"),
        "driver": _text(facts.get("cuda_driver_version")),
        "python": report.interpreter.version,
        "status": report.status,
        "run_url": (report.ci or {}).get("run_url") or run_url,
        "checks": _checks(report),
        "figures": figures,
        "schema_version": SCHEMA_VERSION,
    }


def _checks(report: Report) -> dict[str, dict[str, float]]:
    """Durations (ms) by status, then check id: compact on disk, and a status flip is a key changing group."""
    out: dict[str, dict[str, float]] = {"pass": {}, "fail": {}, "skip": {}}
    for check in report.checks:
        out[check.status][check.id] = round(max(0.0, check.duration_ms), 1)
    return out


def statuses(record: dict[str, Any]) -> dict[str, str]:
    """check id -> pass | fail | skip of one record."""
    return {check_id: status for status, checks in record["checks"].items() for check_id in checks}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def series_key(record: dict[str, Any]) -> SeriesKey:
    """Figures are compared within one node, backend, SKU and software (torch, driver)."""
    return (record["node"], record["backend"], record["sku"], record["torch"], record["driver"])
