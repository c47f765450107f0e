"""The merged summary of many preflight reports as one typed model (rows, cross-matrix triage, matrix).

Loading lives in ``summary.load``, the JSON document in ``summary.serialise``;
their public names are re-exported here for callers of the model. The runtime
matrix is ``preflight_action.matrix``'s typed snapshot record, so the summary,
the matrix CLI and the dashboard read one implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from preflight_action.errors import UsageError
from preflight_action.history.trends import Trends
from preflight_action.matrix import model as matrix
from preflight_action.matrix import peers as fleet_peers
from preflight_action.matrix.snapshot import Snapshot
from preflight_action.preflight.severity import BAND_ORDER, SeverityPolicy
from preflight_action.summary.delta import Delta
from preflight_action.summary.load import Inputs, InvalidInput, LoadedReport

__all__ = [
    "BackendGroup",
    "FailedCheck",
    "Inputs",
    "InvalidInput",
    "LoadedReport",
    "ReportRow",
    "Summary",
    "build",
    "first_line",
]

DEFAULT_FRESHNESS_HOURS = 24.0
ERROR_LINE_LIMIT = 300


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
    failed_bands: tuple[str, ...] = ()  # the band of each failed check, same order
    inventory: dict[str, str] | None = None  # its inventory's parts by hash (in Summary.inventories)
    verdict: str = "healthy"  # the report's own: healthy | blocking | not_judged (never a pass)
    unfinished: int = 0  # checks its level requires that never reached their end


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
    remedy: str | None = None  # the worst-scoring report's remedy (the check's own next step)
    where: str | None = None  # "node (OS)" of each report where it failed


@dataclass(frozen=True)
class BackendGroup:
    backend: str
    worst_band: str
    action: str
    reports_affected: int
    reports_total: int
    checks: tuple[str, ...]


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
    matrix: Snapshot
    invalid: tuple[InvalidInput, ...]
    ignored: tuple[InvalidInput, ...] = field(default=())
    delta: Delta | None = None
    trends: Trends | None = None
    peers: fleet_peers.Peers | None = None  # each node's figures against its peers' (policy/peers.yaml)
    inventories: dict[str, dict[str, Any]] = field(default_factory=dict)  # part hash -> part, for the rows that name one
    history_error: str | None = None  # --history could not be read or written: no trends, and why


def build(
    inputs: Inputs,
    policy: SeverityPolicy,
    now: datetime | None = None,
    freshness_hours: float = DEFAULT_FRESHNESS_HOURS,
    run_url: str | None = None,
    artifact_url: str | None = None,
    peers_policy: fleet_peers.PeersPolicy | None = None,
) -> Summary:
    """Merge loaded reports into one Summary (rows, cross-matrix triage, matrix view, outliers among peers)."""
    if not (math.isfinite(freshness_hours) and freshness_hours > 0):
        raise UsageError(f"--freshness-hours must be a positive number of hours, got {freshness_hours:g}")
    moment = now or datetime.now(timezone.utc)
    lanes = [matrix.lane_from_report(item.report, item.path) for item in inputs.reports]
    rows = [_row(item, lane.backend, moment, freshness_hours) for item, lane in zip(inputs.reports, lanes, strict=False)]
    rows.sort(key=_row_order)
    top_failed = _top_failed(inputs.reports, lanes, policy)
    by_backend = _by_backend(inputs.reports, lanes, policy)
    ttl = max(1, round(freshness_hours * 3600))
    view = matrix.build_record(lanes, now=moment, ttl_seconds=ttl)
    failed = [r for r in rows if r.status == "fail"]
    bands = [f.worst_band for f in top_failed]
    not_judged = sum(1 for r in rows if r.verdict == "not_judged" and not r.simulated)
    counts = {
        "reports": len(rows),
        "passed": sum(1 for r in rows if r.status == "pass" and not r.simulated),
        "not_judged": not_judged,
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
    elif not_judged or inputs.invalid or counts["passed"] == 0:
        status = "incomplete"  # nothing failed, but something is unknown (a run that never finished, bad input, only simulated runs)
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
        peers=fleet_peers.compare(  # a stale report (older than --freshness-hours) is left out, and its group says so
            ((i.report, i.path) for i in inputs.reports), peers_policy or fleet_peers.load(), moment, freshness_hours
        ),
        inventories=inputs.inventories.used([r.inventory for r in rows]) if inputs.inventories else {},
    )


def _row(item: LoadedReport, backend: str, now: datetime, freshness_hours: float) -> ReportRow:
    report = item.report
    statuses = [check.status for check in report.checks]
    tally = {"pass": statuses.count("pass"), "fail": statuses.count("fail"), "skip": statuses.count("skip")}
    age = max(0.0, (now - matrix.parse_time(report.finished_at)).total_seconds() / 3600)
    return ReportRow(
        path=item.path,
        node_id=report.host.node_id,
        os=report.host.runner_os or report.host.os or "?",
        arch=report.host.arch or "?",
        python=report.interpreter.version,
        requested_device=report.requested_device,
        resolved_device=report.resolved_device,
        backend=backend,
        status=report.status,  # incomplete when a required check never finished: never shown as a pass
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
        failed_bands=tuple(t.band for t in report.triage.top_failed_checks),
        inventory=item.inventory,
        verdict=report.verdict,
        unfinished=len(report.unfinished),
    )


def _row_order(row: ReportRow) -> tuple[Any, ...]:
    band_rank = BAND_ORDER.index(row.highest_band) if row.highest_band else len(BAND_ORDER)
    return (row.status != "fail", row.status != "incomplete", band_rank, row.stale, row.node_id, row.backend, row.path)


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
            slot.setdefault("where", []).append(f"{entry.node or item.report.host.node_id}{f' ({entry.os})' if entry.os else ''}")
            slot["backends"].add(lane.backend)
            slot["blocking"] = slot["blocking"] or entry.blocking
            if entry.score > slot["score"]:
                slot.update(score=entry.score, band=entry.band, error=first_line(entry.error), remedy=entry.remedy)
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
            remedy=slot.get("remedy"),
            where=", ".join(sorted(set(slot["where"]))),
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
