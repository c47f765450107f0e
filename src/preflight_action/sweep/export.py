"""CSV export: one row per step across every sub-run, axes and metrics as columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from preflight_action import atomic
from preflight_action.sweep.artifacts import RunDir, read_doc
from preflight_action.sweep.planner import read_plan

FIXED = ("run_id", "point_id", "step_index", "step", "adapter", "status", "duration_s", "process_s", "returncode", "error")


def to_csv(run: RunDir) -> str:
    plan = read_plan(run.plan)
    summary = read_doc(run.summary, "sweep_summary")
    axes = list(plan.axis_names)
    rows = []
    metric_names: list[str] = []
    for point in summary["points"]:
        sub = read_doc(run.subrun_summary(point["id"]), "sweep_subrun_summary")
        for step in sub["steps"]:
            row = {key: step[key] for key in FIXED if key in step}
            row["point_id"] = point["id"]
            row.update({f"axis.{a}": point["axes"].get(a) for a in axes})
            for name, value in step["metrics"].items():
                column = f"metric.{name}"
                if column not in metric_names:
                    metric_names.append(column)
                row[column] = value
            rows.append(row)
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=[*FIXED, *(f"axis.{a}" for a in axes), *metric_names], extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def export_csv(run: RunDir, output: Path | None = None) -> Path:
    target = output or run.path / "steps.csv"
    atomic.write_text(target, to_csv(run))
    return target
