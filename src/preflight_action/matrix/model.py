"""Runtime matrix read model: node x backend lanes with accessible status strings.

One implementation serves the summarizer's matrix view and
``scripts/runtime_matrix.py``: artifacts (preflight reports, smoke run records,
sweep summaries) become ``Lane`` observations, lanes become a snapshot
(per-node status, accelerator rollups, ``ttl_seconds``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from preflight_action.matrix import gangs
from preflight_action.matrix.snapshot import CODES, Snapshot
from preflight_action.preflight.report import Report

DEFAULT_TTL_SECONDS = 6 * 3600
SCHEMA_VERSION = "1.1"  # 1.1: the code not_judged, optional gangs (preflight-gang reports grouped by gang id)
ACCELERATOR = {"cpu": "CPU", "cuda": "GPU", "rocm": "GPU", "mps": "GPU", "xpu": "GPU", "npu": "NPU"}
ACCELERATORS = ("CPU", "GPU", "NPU")
SEVERITY_LABEL = {"info": "Info", "warning": "Warning", "error": "Error", "critical": "Critical"}
CODE_WORD = {
    "ok": "Ready",
    "skipped": "Skipped",
    "not_judged": "Not judged",
    "stale": "Stale",
    "degraded": "Degraded",
    "error": "Failing",
    "down": "Down",
}
BAND_CODE = {"critical": "down", "high": "error", "medium": "degraded", "low": "degraded"}


@dataclass(frozen=True)
class Lane:
    """One observation of one backend on one node, from one artifact."""

    node_id: str
    backend: str
    code: str
    summary: str
    detail: tuple[str, ...]
    updated: str
    source: str  # preflight | smoke | sweep
    path: str = ""
    simulated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accelerator(self) -> str:
        return ACCELERATOR.get(self.backend, "CPU" if self.backend == "unknown" else "GPU")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lane_from_report(report: Report, path: str = "") -> Lane:
    """A preflight report as a lane: its worst failure decides the code."""
    backend = report.backend or (report.requested_device if report.requested_device != "auto" else "unknown")
    band = report.triage.highest_band
    if report.status == "pass" and report.simulated:
        code = "skipped"  # a simulated run never counts as a real pass
        summary = f"simulated run, not a real pass ({report.count('pass')} checks passed in simulation)"
    elif report.status == "pass":
        code = "ok"
        summary = f"all {report.count('pass')} checks passed"
    elif report.status == "incomplete":
        code = "not_judged"  # nothing failed, and not everything ran: never "ok"
        summary = _not_judged_words(report)
    else:
        code = BAND_CODE.get(band or "low", "degraded")
        top = report.triage.top_failed_checks[0] if report.triage.top_failed_checks else None
        # the code already says critical (Down) or high (Failing); only Degraded spans two bands
        which = f" ({top.band})" if top and code == "degraded" else ""
        summary = f"{top.check_id} failed{which}" if top else f"{report.count('fail')} checks failed"
    detail = [f"{t.check_id}: {t.error.splitlines()[0][:160] if t.error else 'failed'}" for t in report.triage.top_failed_checks[:3]]
    if not detail:
        detail = [f"{report.count('pass')} passed, {report.count('skip')} skipped on {report.resolved_device or backend}"]
    return Lane(
        node_id=report.host.node_id,
        backend=backend,
        code=code,
        summary=summary,
        detail=tuple(detail),
        updated=report.finished_at,
        source="preflight",
        path=path,
        simulated=report.simulated,
        extra={"requested_device": report.requested_device, "python": report.interpreter.version}
        | ({"gang": gangs.Observation(report.host.node_id, report.verdict, report.gang)} if report.gang else {}),
    )


def _not_judged_words(report: Report) -> str:
    count = len(report.unfinished)
    if report.interrupted_by:
        why = f"interrupted by {report.interrupted_by}"
    elif any(c.unfinished in ("budget_cut", "budget_exhausted") for c in report.unfinished):
        why = "cut by the budget"
    else:
        why = "not reached"
    return f"not judged: {count} required check{'s' if count != 1 else ''} {why}"


def status_block(code: str, summary: str, detail: list[str]) -> dict[str, Any]:
    """The accessible status strings: code, severity, severity_label, label, detail, aria_hint."""
    severity = CODES[code][0]
    label = f"{CODE_WORD[code]} - {summary}"
    shown = detail or [summary]
    return {
        "code": code,
        "severity": severity,
        "severity_label": SEVERITY_LABEL[severity],
        "label": label,
        "detail": shown,
        "aria_hint": f"Runtime status {label}. {' '.join(shown)}",
    }


def _worst(codes: Iterable[str]) -> str:
    return max(codes, key=lambda c: CODES[c][1], default="skipped")


def _aged(lane: Lane, now: datetime, ttl_seconds: int) -> Lane:
    age = (now - parse_time(lane.updated)).total_seconds()
    if age <= ttl_seconds or lane.code == "stale":
        return lane
    hours = age / 3600
    detail = (f"last report {hours:.1f} h old (ttl {ttl_seconds} s); was {lane.code}: {lane.summary}", *lane.detail)
    return Lane(
        lane.node_id,
        lane.backend,
        "stale",
        f"no fresh report for {lane.backend}",
        detail,
        lane.updated,
        lane.source,
        lane.path,
        lane.simulated,
        lane.extra,
    )


def latest_per_cell(lanes: Iterable[Lane]) -> dict[tuple[str, str, str, str, str], Lane]:
    """Newest lane per (node, backend, source, requested device, Python); older observations are superseded.

    The requested device and the Python version are part of the key so that a CI
    job's ``--device auto`` and ``--device cpu`` legs (both cpu on a CPU runner), or
    a Python matrix on one box, stay separate lanes: a later pass must not hide
    another leg's failure.
    """
    cells: dict[tuple[str, str, str, str, str], Lane] = {}
    for lane in lanes:
        key = (lane.node_id, lane.backend, lane.source, str(lane.extra.get("requested_device", "")), str(lane.extra.get("python", "")))
        if key not in cells or parse_time(lane.updated) > parse_time(cells[key].updated):
            cells[key] = lane
    return cells


def build_snapshot(
    lanes: Iterable[Lane], now: datetime | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS, inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The read-model snapshot: ``items`` per node, ``backends`` seen, ``ttl_seconds`` (and ``inputs`` read, when given)."""
    moment = now or datetime.now(timezone.utc)
    lanes = list(lanes)
    cells = [_aged(lane, moment, ttl_seconds) for lane in latest_per_cell(lanes).values()]
    by_node: dict[str, list[Lane]] = {}
    for lane in cells:
        by_node.setdefault(lane.node_id, []).append(lane)
    items: dict[str, Any] = {}
    for node in sorted(by_node):
        node_lanes = sorted(by_node[node], key=lambda ln: (ln.backend, ln.source))
        worst = _worst(ln.code for ln in node_lanes)
        bad = [ln for ln in node_lanes if ln.code == worst]
        if worst == "ok":
            summary = f"{len(node_lanes)} lane{'s' if len(node_lanes) != 1 else ''} nominal"
            detail = [f"{ln.backend} {ln.source}: {ln.summary}" for ln in node_lanes]
        else:
            summary = "; ".join(f"{ln.backend} {ln.source}: {ln.summary}" for ln in bad[:2])
            detail = [d for ln in bad for d in ln.detail][:6]
        items[node] = {
            "status": status_block(worst, summary, detail),
            "runtime": {
                "total": len(node_lanes),
                "states": _state_mix(node_lanes),
                "updated": max(ln.updated for ln in node_lanes),
            },
            "accelerators": _accelerators(node_lanes),
            "lanes": [_lane_entry(ln) for ln in node_lanes],
        }
    snapshot: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(moment),
        "ttl_seconds": ttl_seconds,
        "backends": sorted({ln.backend for ln in cells}),
        "items": items,
    }
    grouped = gangs.group(lane.extra["gang"] for lane in lanes if "gang" in lane.extra)  # every report of a gang, however old
    if grouped:
        snapshot["gangs"] = [g.to_dict() for g in grouped]
    if inputs is not None:
        snapshot["inputs"] = inputs
    return snapshot


def _state_mix(lanes: list[Lane]) -> dict[str, int]:
    mix: dict[str, int] = {}
    for lane in lanes:
        mix[lane.code] = mix.get(lane.code, 0) + 1
    return dict(sorted(mix.items()))


def _accelerators(lanes: list[Lane]) -> dict[str, Any]:
    rollup: dict[str, Any] = {}
    for kind in ACCELERATORS:
        mine = [ln for ln in lanes if ln.accelerator == kind]
        usable = [ln for ln in mine if ln.code in ("ok", "degraded")]
        rollup[kind] = {"available": bool(usable), "lanes": len(mine), "states": _state_mix(mine)}
    return rollup


def _lane_entry(lane: Lane) -> dict[str, Any]:
    return {
        "backend": lane.backend,
        "accelerator": lane.accelerator,
        "source": lane.source,
        "simulated": lane.simulated,
        "updated": lane.updated,
        "path": lane.path,
        "status": status_block(lane.code, lane.summary, list(lane.detail)),
    }


def build_record(
    lanes: Iterable[Lane], now: datetime | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS, inputs: dict[str, Any] | None = None
) -> Snapshot:
    """``build_snapshot`` as the typed record the summary and the view read."""
    return Snapshot.from_dict(build_snapshot(lanes, now=now, ttl_seconds=ttl_seconds, inputs=inputs))


def grid(snapshot: dict[str, Any] | Snapshot) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """(nodes, backends, cell status by (node, backend)) for a node x backend view; worst source wins."""
    record = snapshot if isinstance(snapshot, Snapshot) else Snapshot.from_dict(snapshot)
    cells = {(c.node, c.backend): c.status.to_dict() for c in record.cells}
    return list(record.nodes), list(record.backends), cells


# smoke run outcome -> lane code; simulated and skipped runs are never "ok" (never a real pass).
SMOKE_CODE = {
    "pass": "ok",
    "fail": "error",
    "aborted": "error",
    "timeout": "degraded",
    "interrupted": "degraded",
    "skipped": "skipped",
    "simulated": "skipped",
}
# sweep run status -> lane code
SWEEP_CODE = {"passed": "ok", "failed": "error", "interrupted": "degraded", "dry_run": "skipped", "pending": "skipped"}


def lane_from_smoke(record: dict[str, Any], path: str = "") -> Lane:
    """A smoke run record (schema ``smoke_run``) as a lane."""
    outcome, counts, cases = record["outcome"], record["counts"], record["cases"]
    models = sorted({c["model"] for c in cases})
    dtypes = list(dict.fromkeys(c["dtype"] for c in cases))
    scope = f"{', '.join(models)} x {', '.join(dtypes)}"
    if outcome == "pass":
        summary = f"smoke passed {counts['pass']} case{'s' if counts['pass'] != 1 else ''} ({scope})"
    elif outcome == "simulated":
        profile = (record.get("profile") or {}).get("name", "a profile")
        summary = f"simulated on {profile}, not a real pass"
    else:
        summary = f"smoke {outcome}: {counts['fail']} failed, {counts['pass']} passed, {counts['skipped'] + counts['not_run']} not run"
    detail = [
        f"{c['model']} {c['dtype']}: {c['outcome']}: {c['reason']}"[:200] for c in cases if c["outcome"] not in ("pass", "simulated")
    ][:3]
    if record.get("fallback_reason"):
        detail.insert(0, f"fell back to simulated: {record['fallback_reason']}"[:200])
    if not detail:
        detail = [_smoke_figure(cases) or summary]
    return Lane(
        node_id=record["node_id"],
        backend=record["device"]["backend"],
        code=SMOKE_CODE[outcome],
        summary=summary,
        detail=tuple(detail),
        updated=record["finished_at"],
        source="smoke",
        path=path,
        simulated=record["simulated"],
        extra={"mode": record["mode"], "run_id": record["run_id"]},
    )


def _smoke_figure(cases: list[dict[str, Any]]) -> str:
    timed = [c for c in cases if c.get("forward") and c["forward"].get("samples_per_s")]
    if not timed:
        return ""
    best = max(timed, key=lambda c: c["forward"]["samples_per_s"])
    return f"fastest: {best['model']} {best['dtype']} {best['forward']['samples_per_s']:.1f} samples/s forward"


def lane_from_sweep(summary: dict[str, Any], path: str = "", node_id: str = "", backend: str | None = None) -> Lane:
    """A sweep summary (schema ``sweep_summary``) as a lane.

    Sweep summaries carry no node id or backend of their own: the caller passes
    the node the sweep ran on (the local node id when reading local outputs)
    and the backend from the run's ``sysinfo.json`` when there is one.
    """
    counts = summary["counts"]
    total = sum(counts.values())
    status = summary["status"]
    summary_text = f"sweep {summary['flow']} {status}: {counts['passed']}/{total} steps passed"
    failing = [p for p in summary["points"] if p["status"] in ("failed", "interrupted")]
    detail = [f"{p['id']}: {p['status']} ({', '.join(f'{k}={v}' for k, v in sorted(p['axes'].items()))})"[:200] for p in failing[:3]]
    return Lane(
        node_id=node_id or "unknown",
        backend=backend or "unknown",
        code=SWEEP_CODE[status],
        summary=summary_text,
        detail=tuple(detail or [f"{len(summary['points'])} points, run {summary['run_id']}"]),
        updated=iso(parse_time(summary["finished_utc"])),
        source="sweep",
        path=path,
        extra={"run_id": summary["run_id"], "flow": summary["flow"]},
    )
