"""Merge shard run directories (same flow, seed and expansion) into one run with one summary and report."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from preflight_action.errors import InputError
from preflight_action.sweep.artifacts import RunDir, read_doc, write_doc
from preflight_action.sweep.planner import iso, read_plan, utc_now, write_plan
from preflight_action.sweep.records import SweepPlan
from preflight_action.sweep.results import write_summaries


def _signature(plan: SweepPlan) -> tuple[Any, ...]:
    steps = [(p.id, p.axes, [(s.name, s.adapter, s.params) for s in p.steps]) for p in plan.points]
    return (plan.flow.sha256, plan.seed, steps)


def merge(sources: list[Path], output_root: Path) -> RunDir:
    if not sources:
        raise InputError("merge: give at least one shard run directory")
    runs = [RunDir(p) for p in sources]
    plans = [read_plan(r.plan) for r in runs]
    base = plans[0]
    for run, plan in zip(runs[1:], plans[1:], strict=False):
        if _signature(plan) != _signature(base):
            raise InputError(f"{run.plan}: not the same sweep as {runs[0].plan} (flow file, seed or expansion differ)")
    summaries = [read_doc(r.summary, "sweep_summary") for r in runs]
    stamp = utc_now()
    run_id = f"sw-{stamp.strftime('%Y%m%dT%H%M%SZ')}-s{base.seed}-{base.flow.name}-merged"
    target = RunDir(output_root / run_id)
    if target.path.exists():
        raise InputError(f"{target.path}: already exists; merge again in a second")
    owner: dict[str, RunDir] = {}
    owner_status: dict[str, str] = {}
    for run, summary in zip(runs, summaries, strict=False):
        for point in summary["points"]:
            if point["status"] == "pending" and point["id"] in owner:
                continue  # a shard that never got to this point does not replace one that did
            if point["id"] in owner and point["status"] != "pending" and owner_status[point["id"]] != "pending":
                raise InputError(f"{run.path}: point {point['id']} was also run by {owner[point['id']].path}")
            owner[point["id"]] = run
            owner_status[point["id"]] = point["status"]
    for point_id, run in sorted(owner.items()):
        shutil.copytree(run.subrun(point_id), target.subrun(point_id))
    plan = replace(base, run_id=run_id, created_utc=iso(stamp))
    write_plan(target.plan, plan)
    if runs[0].sysinfo.is_file():
        write_doc(target.sysinfo, read_doc(runs[0].sysinfo, "sysinfo"), "sysinfo")
    present = [p for p in plan.points if p.id in owner]
    started = min(s["started_utc"] for s in summaries)
    write_summaries(target, plan, present, started_utc=started, shard=None, sources=[s["run_id"] for s in summaries])
    return target
