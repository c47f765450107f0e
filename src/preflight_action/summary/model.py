"""The merged summary of many preflight reports: load through the schema, then one typed model.

Inputs that cannot be read or fail the report schema are kept as ``InvalidInput``
entries (file + JSON pointer reason) and never stop the others. The runtime
matrix view comes from ``preflight_action.matrix.model`` so the summary and the
matrix read model share one implementation.
"""

from __future__ import annotations

import gc
import glob
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from preflight_action import __version__, schemas
from preflight_action.errors import InputError, UsageError
from preflight_action.matrix import model as matrix
from preflight_action.preflight.report import SCHEMA_NAME as REPORT_SCHEMA
from preflight_action.preflight.report import Report
from preflight_action.preflight.severity import BAND_ORDER, SeverityPolicy

SCHEMA_NAME = "preflight_summary"
SCHEMA_VERSION = "1.0"
KIND = "preflight-summary"
DEFAULT_FRESHNESS_HOURS = 24.0
ERROR_LINE_LIMIT = 300


@dataclass(frozen=True)
class InvalidInput:
    """A file matched by the glob that is not a usable report, and why."""

    path: str
    reason: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedReport:
    path: str
    report: Report


@dataclass(frozen=True)
class Inputs:
    reports: tuple[LoadedReport, ...]
    invalid: tuple[InvalidInput, ...]
    ignored: tuple[InvalidInput, ...] = ()


@dataclass(frozen=True)
class ReportRow:
    path: str
    node_id: str
    os: str
    arch: str
    python: str | None
    requested_device: str
    resolved_device: str | None
    backend: str
    status: str
    pass_count: int
    fail_count: int
    skip_count: int
    duration_ms: float
    finished_at: str
    age_hours: float
    stale: bool
    simulated: bool
    highest_band: str | None
    blocking: bool
    run_url: str | None
    failed_checks: tuple[str, ...]


@dataclass(frozen=True)
class FailedCheck:
    """One check id failing somewhere in the matrix, ranked by its worst score."""

    check_id: str
    reports: int
    worst_score: int
    worst_band: str
    blocking: bool
    backends: tuple[str, ...]
    action: str
    error: str


@dataclass(frozen=True)
class BackendGroup:
    backend: str
    worst_band: str
    action: str
    reports_affected: int
    reports_total: int
    checks: tuple[str, ...]


@dataclass(frozen=True)
class MatrixCell:
    node: str
    backend: str
    code: str
    severity: str
    label: str


@dataclass(frozen=True)
class MatrixView:
    nodes: tuple[str, ...]
    backends: tuple[str, ...]
    ttl_seconds: int
    cells: tuple[MatrixCell, ...]

    def cell(self, node: str, backend: str) -> MatrixCell | None:
        return next((c for c in self.cells if c.node == node and c.backend == backend), None)


@dataclass(frozen=True)
class Summary:
    generated_at: str
    status: str  # pass | fail | incomplete
    highest_band: str | None
    blocking: bool
    freshness_hours: float
    counts: dict[str, int]
    run_url: str | None
    artifact_url: str | None
    rows: tuple[ReportRow, ...]
    top_failed: tuple[FailedCheck, ...]
    by_backend: tuple[BackendGroup, ...]
    matrix: MatrixView
    invalid: tuple[InvalidInput, ...]
    ignored: tuple[InvalidInput, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "tool": {"name": "preflight-action", "version": __version__},
            "generated_at": self.generated_at,
            "status": self.status,
            "highest_band": self.highest_band,
            "blocking": self.blocking,
            "freshness_hours": self.freshness_hours,
            "counts": dict(self.counts),
            "links": {"run_url": self.run_url, "artifact_url": self.artifact_url},
            "reports": [{**_plain(row), "failed_checks": list(row.failed_checks)} for row in self.rows],
            "top_failed_checks": [{**_plain(f), "backends": list(f.backends)} for f in self.top_failed],
            "by_backend": [{**_plain(g), "checks": list(g.checks)} for g in self.by_backend],
            "matrix": {
                "nodes": list(self.matrix.nodes),
                "backends": list(self.matrix.backends),
                "ttl_seconds": self.matrix.ttl_seconds,
                "cells": [_plain(c) for c in self.matrix.cells],
            },
            "invalid_inputs": [{"path": i.path, "reason": i.reason, "problems": list(i.problems)} for i in self.invalid],
            "ignored_inputs": [{"path": i.path, "reason": i.reason} for i in self.ignored],
        }


def _plain(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


# -- loading -----------------------------------------------------------------


def expand(patterns: Iterable[str], exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Files matched by the glob patterns (``**`` recurses), sorted, without ``exclude`` (our own outputs)."""
    skip = {os.path.realpath(p) for p in exclude}
    skip_names = {os.path.basename(p) for p in skip}
    found: dict[str, Path] = {}
    for pattern in patterns:
        for name in glob.glob(pattern, recursive=True):
            absolute = os.path.abspath(name)
            if absolute in found or not os.path.isfile(name):
                continue
            # realpath costs a stat per path component: only for names that could be one of our outputs
            if os.path.basename(name) in skip_names and os.path.realpath(name) in skip:
                continue
            found[absolute] = Path(name)
    return sorted(found.values(), key=str)


def load_reports(paths: Iterable[Path]) -> Inputs:
    """Read and validate every report; a bad one becomes an InvalidInput, never an exception."""
    reports: list[LoadedReport] = []
    invalid: list[InvalidInput] = []
    ignored: list[InvalidInput] = []
    collecting = gc.isenabled()
    gc.disable()  # parsed JSON holds no cycles; a full collection per 700 allocations made 10k reports quadratic
    try:
        for path in paths:
            name = str(path)
            try:
                document = schemas.parse_file(path, "json")
            except InputError as error:
                invalid.append(InvalidInput(name, _without_prefix(str(error), name)))
                continue
            if isinstance(document, dict) and document.get("kind") == KIND:
                ignored.append(InvalidInput(name, "a preflight summary, not a report"))
                continue
            found = schemas.problems(document, REPORT_SCHEMA)
            if found:
                shown = "; ".join(found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "")
                invalid.append(InvalidInput(name, f"does not match the {REPORT_SCHEMA} schema: {shown}", tuple(found)))
                continue
            reports.append(LoadedReport(name, Report.from_dict(_slim(document))))
    finally:
        if collecting:
            gc.enable()
    return Inputs(tuple(reports), tuple(invalid), tuple(ignored))


def _slim(document: dict[str, Any]) -> dict[str, Any]:
    """Drop what no summary shows (fingerprint payload, check details), in place: 10k reports stay small."""
    document["env_fingerprint"]["payload"] = {}
    for check in document["checks"]:
        check["details"] = {}
    return document


def _without_prefix(message: str, path: str) -> str:
    return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message


# -- the model ---------------------------------------------------------------


def build(
    inputs: Inputs,
    policy: SeverityPolicy,
    now: datetime | None = None,
    freshness_hours: float = DEFAULT_FRESHNESS_HOURS,
    run_url: str | None = None,
    artifact_url: str | None = None,
) -> Summary:
    """Merge loaded reports into one Summary (rows, cross-matrix triage, matrix view)."""
    if not (math.isfinite(freshness_hours) and freshness_hours > 0):
        raise UsageError(f"--freshness-hours must be a positive number of hours, got {freshness_hours:g}")
    moment = now or datetime.now(timezone.utc)
    lanes = [matrix.lane_from_report(item.report, item.path) for item in inputs.reports]
    rows = [_row(item, lane.backend, moment, freshness_hours) for item, lane in zip(inputs.reports, lanes, strict=False)]
    rows.sort(key=_row_order)
    top_failed = _top_failed(inputs.reports, lanes, policy)
    by_backend = _by_backend(inputs.reports, lanes, policy)
    ttl = max(1, round(freshness_hours * 3600))
    view = _matrix_view(matrix.build_snapshot(lanes, now=moment, ttl_seconds=ttl), ttl)
    failed = [r for r in rows if r.status == "fail"]
    bands = [f.worst_band for f in top_failed]
    counts = {
        "reports": len(rows),
        "passed": sum(1 for r in rows if r.status == "pass" and not r.simulated),
        "failed": len(failed),
        "simulated": sum(1 for r in rows if r.simulated),
        "stale": sum(1 for r in rows if r.stale),
        "invalid": len(inputs.invalid),
        "ignored": len(inputs.ignored),
        "checks_passed": sum(r.pass_count for r in rows),
        "checks_failed": sum(r.fail_count for r in rows),
        "checks_skipped": sum(r.skip_count for r in rows),
    }
    if failed:
        status = "fail"
    elif inputs.invalid or counts["passed"] == 0:
        status = "incomplete"  # nothing failed, but something is unknown (bad input, only simulated runs)
    else:
        status = "pass"
    return Summary(
        generated_at=matrix.iso(moment),
        status=status,
        highest_band=min(bands, key=BAND_ORDER.index) if bands else None,
        blocking=any(r.blocking for r in rows),
        freshness_hours=freshness_hours,
        counts=counts,
        run_url=run_url,
        artifact_url=artifact_url,
        rows=tuple(rows),
        top_failed=tuple(top_failed),
        by_backend=tuple(by_backend),
        matrix=view,
        invalid=inputs.invalid,
        ignored=inputs.ignored,
    )


def _row(item: LoadedReport, backend: str, now: datetime, freshness_hours: float) -> ReportRow:
    report = item.report
    tally = {"pass": 0, "fail": 0, "skip": 0}
    for check in report.checks:
        tally[check.status] += 1
    age = max(0.0, (now - matrix.parse_time(report.finished_at)).total_seconds() / 3600)
    return ReportRow(
        path=item.path,
        node_id=report.host["node_id"],
        os=report.host.get("runner_os") or report.host.get("os") or "?",
        arch=report.host.get("arch") or "?",
        python=report.interpreter.get("version"),
        requested_device=report.requested_device,
        resolved_device=report.resolved_device,
        backend=backend,
        status="fail" if tally["fail"] else "pass",
        pass_count=tally["pass"],
        fail_count=tally["fail"],
        skip_count=tally["skip"],
        duration_ms=report.duration_ms,
        finished_at=report.finished_at,
        age_hours=round(age, 2),
        stale=age > freshness_hours,
        simulated=report.simulated,
        highest_band=report.triage.highest_band,
        blocking=report.triage.blocking,
        run_url=(report.ci or {}).get("run_url"),
        failed_checks=tuple(t.check_id for t in report.triage.top_failed_checks),
    )


def _row_order(row: ReportRow) -> tuple[Any, ...]:
    band_rank = BAND_ORDER.index(row.highest_band) if row.highest_band else len(BAND_ORDER)
    return (row.status != "fail", band_rank, row.stale, row.node_id, row.backend, row.path)


def first_line(text: str | None, limit: int = ERROR_LINE_LIMIT) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _top_failed(reports: tuple[LoadedReport, ...], lanes: list[matrix.Lane], policy: SeverityPolicy) -> list[FailedCheck]:
    merged: dict[str, dict[str, Any]] = {}
    for item, lane in zip(reports, lanes, strict=False):
        for entry in item.report.triage.top_failed_checks:
            slot = merged.setdefault(
                entry.check_id, {"reports": 0, "score": -1, "band": "low", "blocking": False, "backends": set(), "error": ""}
            )
            slot["reports"] += 1
            slot["backends"].add(lane.backend)
            slot["blocking"] = slot["blocking"] or entry.blocking
            if entry.score > slot["score"]:
                slot.update(score=entry.score, band=entry.band, error=first_line(entry.error))
    out = [
        FailedCheck(
            check_id=check_id,
            reports=slot["reports"],
            worst_score=slot["score"],
            worst_band=slot["band"],
            blocking=slot["blocking"],
            backends=tuple(sorted(slot["backends"])),
            action=_action(policy, slot["band"]),
            error=slot["error"],
        )
        for check_id, slot in merged.items()
    ]
    out.sort(key=lambda f: (-f.worst_score, -f.reports, f.check_id))
    return out


def _by_backend(reports: tuple[LoadedReport, ...], lanes: list[matrix.Lane], policy: SeverityPolicy) -> list[BackendGroup]:
    totals: dict[str, int] = {}
    groups: dict[str, dict[str, Any]] = {}
    for item, lane in zip(reports, lanes, strict=False):
        totals[lane.backend] = totals.get(lane.backend, 0) + 1
        entries = item.report.triage.top_failed_checks
        if not entries:
            continue
        group = groups.setdefault(lane.backend, {"affected": 0, "checks": {}})
        group["affected"] += 1
        for entry in entries:
            group["checks"][entry.check_id] = max(entry.score, group["checks"].get(entry.check_id, -1))
    out = []
    for backend, group in groups.items():
        ranked = sorted(group["checks"].items(), key=lambda kv: (-kv[1], kv[0]))
        band = policy.band(ranked[0][1]).name
        out.append(BackendGroup(backend, band, _action(policy, band), group["affected"], totals[backend], tuple(c for c, _ in ranked)))
    out.sort(key=lambda g: (BAND_ORDER.index(g.worst_band), -g.reports_affected, g.backend))
    return out


def _action(policy: SeverityPolicy, band: str) -> str:
    try:
        return policy.band_named(band).action
    except KeyError:
        return ""


def _matrix_view(snapshot: dict[str, Any], ttl_seconds: int) -> MatrixView:
    nodes, backends, cells = matrix.grid(snapshot)
    return MatrixView(
        nodes=tuple(nodes),
        backends=tuple(backends),
        ttl_seconds=ttl_seconds,
        cells=tuple(
            MatrixCell(node, backend, block["code"], block["severity"], block["label"]) for (node, backend), block in sorted(cells.items())
        ),
    )


def dumps(summary: Summary) -> str:
    """The summary as validated JSON text: sorted keys, one record per line (fast to write, easy to diff)."""
    document = summary.to_dict()
    schemas.validate(document, SCHEMA_NAME, "summary JSON")
    return _lines(document, 0) + "\n"


def _lines(value: Any, level: int) -> str:
    """Objects indented by two spaces; a list of records as one compact record per line.

    ``json.dumps`` with ``indent`` uses the pure-Python encoder (slow for 10,000
    rows); each record here goes through the C encoder instead.
    """
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_lines(value[k], level + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        records = [inner + json.dumps(v, ensure_ascii=False, sort_keys=True) for v in value]
        return "[\n" + ",\n".join(records) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def read(path: str | Path) -> dict[str, Any]:
    """Read and validate a summary JSON file."""
    document = schemas.parse_file(path, "json")
    schemas.validate(document, SCHEMA_NAME, str(path))
    result: dict[str, Any] = document
    return result
