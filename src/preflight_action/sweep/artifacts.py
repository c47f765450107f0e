"""The run directory: where each file lives, and schema-checked reads and writes of each."""

from __future__ import annotations

import difflib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from preflight_action import atomic, redact, schemas
from preflight_action.errors import InputError
from preflight_action.sweep.planner import step_file_stem
from preflight_action.sweep.records import SweepPlan

DEFAULT_OUTPUT_ROOT = Path("outputs/sweeps")


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def plan(self) -> Path:
        return self.path / "plan.json"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def sysinfo(self) -> Path:
        return self.path / "sysinfo.json"

    @property
    def report_md(self) -> Path:
        return self.path / "report.md"

    @property
    def report_html(self) -> Path:
        return self.path / "report.html"

    def subrun(self, point_id: str) -> Path:
        return self.path / "subruns" / point_id

    def steps_log(self, point_id: str) -> Path:
        return self.subrun(point_id) / "steps.ldjson"

    def subrun_summary(self, point_id: str) -> Path:
        return self.subrun(point_id) / "summary.json"

    def stream_log(self, point_id: str, stream: str, index: int, name: str) -> Path:
        return self.subrun(point_id) / stream / f"{step_file_stem(index, name)}.log"


def find_run(output_root: Path, run_id: str) -> RunDir:
    """A run directory by id (or a path to one); an unknown id lists the run ids there are."""
    given = Path(run_id)
    for candidate in (given, output_root / run_id):
        if (candidate / "plan.json").is_file():
            return RunDir(candidate)
    known = [run.run_id for run in list_runs(output_root)]
    if not known:
        raise InputError(f"--run-id {run_id}: no sweep run with that id; {output_root} holds no runs yet")
    shown = ", ".join(known[-10:]) + (f" (and {len(known) - 10} older)" if len(known) > 10 else "")
    close = difflib.get_close_matches(run_id, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(f"--run-id {run_id}: no sweep run with that id under {output_root}; {hint}runs: {shown}")


def new_run_dir(output_root: Path, run_id: str) -> RunDir:
    """A fresh directory for ``run_id``: ``-2``, ``-3`` ... when a run of that id already exists."""
    candidate, n = output_root / run_id, 1
    while candidate.exists():
        n += 1
        candidate = output_root / f"{run_id}-{n}"
    return RunDir(candidate)


def planned_at(run: RunDir) -> datetime:
    """When the run was planned (plan.json's created_utc; its mtime when that cannot be read)."""
    from preflight_action.sweep.planner import read_plan

    try:
        return datetime.fromisoformat(read_plan(run.plan).created_utc.replace("Z", "+00:00"))
    except InputError:
        return datetime.fromtimestamp(run.plan.stat().st_mtime, timezone.utc)


def clean(output_root: Path, older_than_days: float, dry_run: bool) -> list[str]:
    """Delete (or, dry, only list) the runs planned more than ``older_than_days`` ago; one line per run and a total."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=older_than_days)
    lines, removed = [], 0
    for run in list_runs(output_root):
        created = planned_at(run)
        if created < cutoff:
            lines.append(f"{'would remove' if dry_run else 'removing'} {run.path} (planned {created:%Y-%m-%d %H:%M} UTC)")
            if not dry_run:
                shutil.rmtree(run.path)
            removed += 1
    lines.append(f"clean: {removed} run(s) older than {older_than_days:g} day(s){' (dry run)' if dry_run else ''}")
    return lines


def last_passed(output_root: Path) -> tuple[SweepPlan, RunDir]:
    """The plan and directory of the most recently planned whole (unsharded, unmerged) run that passed."""
    from preflight_action.sweep.planner import read_plan

    last = None
    for run in list_runs(output_root):
        if not run.summary.is_file():
            continue
        summary = read_doc(run.summary, "sweep_summary")
        if summary["status"] == "passed" and summary["shard"] is None and not summary["sources"]:
            plan = read_plan(run.plan)
            if last is None or plan.created_utc > last[0].created_utc:
                last = (plan, run)
    if last is None:
        raise InputError(f"{output_root}: no passed run to repeat")
    return last


def list_runs(output_root: Path) -> list[RunDir]:
    if not output_root.is_dir():
        return []
    return sorted((RunDir(p.parent) for p in output_root.glob("*/plan.json")), key=lambda r: r.path.name)


def write_doc(path: Path, document: Any, schema: str) -> None:
    """Schema-check, scrub secret values (see ``preflight_action.redact``) and write atomically."""
    schemas.validate(document, schema, str(path))
    atomic.write_json(path, redact.scrub(document, redact.secret_values()))


def read_doc(path: Path, schema: str) -> Any:
    return schemas.read_json(path, schema)


def append_step(handle: IO[str], record: dict[str, Any], source: str) -> None:
    """One schema-checked line, flushed and synced so a killed runner still leaves it behind."""
    import os

    schemas.validate(record, "step_log", source)
    handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def drop_partial_line(path: Path) -> None:
    """Cut a last line that a crash left without its newline, so appended records start clean."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def read_steps(path: Path) -> dict[int, dict[str, Any]]:
    """step index -> its latest record (a resumed run appends; the last line for a step wins)."""
    records: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return records
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                continue  # a line cut short by a crash mid-write: that step runs again
            raise InputError(f"{path}: line {number}: malformed JSON") from None
        schemas.validate(record, "step_log", f"{path}:{number}")
        records[record["step_index"]] = record
    return records
