"""Roll step records up into sub-run summaries and the run's summary.json."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from preflight_action.sweep.artifacts import RunDir, read_steps, write_doc
from preflight_action.sweep.planner import iso, utc_now
from preflight_action.sweep.records import STEP_STATUSES, PlannedPoint, SweepPlan


def empty_counts() -> dict[str, int]:
    return dict.fromkeys((*STEP_STATUSES, "pending"), 0)


def point_status(counts: dict[str, int], total: int, dry_run: bool) -> str:
    if dry_run and counts["pending"] == total:
        return "dry_run"
    if counts["interrupted"]:
        return "interrupted"
    if counts["failed"] or counts["timeout"] or counts["error"]:
        return "failed"
    if counts["pending"]:
        return "pending"
    return "passed"


def run_status(points: list[dict[str, Any]], dry_run: bool, interrupted: bool) -> str:
    statuses = {p["status"] for p in points}
    if dry_run and statuses <= {"dry_run"}:
        return "dry_run"
    if interrupted or "interrupted" in statuses:
        return "interrupted"
    if "failed" in statuses:
        return "failed"
    if "pending" in statuses or not points:
        return "pending"
    return "passed"


def write_summaries(
    run: RunDir,
    plan: SweepPlan,
    points: Sequence[PlannedPoint],
    *,
    started_utc: str,
    shard: dict[str, int] | None,
    dry_run: bool = False,
    interrupted: bool = False,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """Write every point's summary.json and the run's summary.json (all schema-checked); return the latter."""
    rows = []
    total_counts = empty_counts()
    for point in points:
        records = read_steps(run.steps_log(point.id))
        counts = empty_counts()
        steps = []
        for step in point.steps:
            record = records.get(step.index)
            if record is None:
                counts["pending"] += 1
            else:
                counts[record["status"]] += 1
                steps.append(record)
        status = point_status(counts, len(point.steps), dry_run)
        write_doc(
            run.subrun_summary(point.id),
            {
                "schema_version": 1,
                "run_id": run.run_id,
                "point_id": point.id,
                "axes": dict(point.axes),
                "seed": point.seed,
                "status": status,
                "counts": counts,
                "steps": steps,
            },
            "sweep_subrun_summary",
        )
        for key, value in counts.items():
            total_counts[key] += value
        rows.append(
            {
                "id": point.id,
                "axes": dict(point.axes),
                "status": status,
                "counts": counts,
                "duration_s": round(sum(r["duration_s"] for r in steps), 6),
                "metrics": {r["step"]: r["metrics"] for r in steps if r["metrics"]},
            }
        )
    summary = {
        "schema_version": 1,
        "run_id": run.run_id,
        "flow": plan.flow.name,
        "seed": plan.seed,
        "status": run_status(rows, dry_run, interrupted),
        "started_utc": started_utc,
        "finished_utc": iso(utc_now()),
        "duration_s": round(sum(r["duration_s"] for r in rows), 6),
        "shard": shard,
        "profile": vars(plan.profile).copy() if plan.profile else None,
        "counts": total_counts,
        "sources": sources or [],
        "points": rows,
    }
    write_doc(run.summary, summary, "sweep_summary")
    return summary


def finish(
    run: RunDir,
    plan: SweepPlan,
    points: Sequence[PlannedPoint],
    started: str,
    shard: dict[str, int] | None,
    templates: Path | None,
    *,
    dry_run: bool = False,
    interrupted: bool = False,
) -> int:
    """Write the summaries and the reports, print the one-line outcome; the exit code (0 passed or dry run, else 1)."""
    from preflight_action.sweep import reporting

    summary = write_summaries(run, plan, points, started_utc=started, shard=shard, dry_run=dry_run, interrupted=interrupted)
    reporting.render(run, templates)
    counts = summary["counts"]
    print(
        f"sweep {summary['status']}: {counts['passed']} passed, {counts['failed'] + counts['timeout'] + counts['error']} failed, "
        f"{counts['interrupted']} interrupted, {counts['skipped']} skipped, {counts['pending']} pending · {run.path}"
    )
    return {"passed": 0, "dry_run": 0, "failed": 1}.get(summary["status"], 1)
