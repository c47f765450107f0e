"""The run directory: where each file lives, and schema-checked reads and writes of each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from preflight_action import atomic, redact, schemas
from preflight_action.errors import InputError
from preflight_action.sweep.planner import step_file_stem

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
    """A run directory by id (or a path to one)."""
    given = Path(run_id)
    for candidate in (given, output_root / run_id):
        if (candidate / "plan.json").is_file():
            return RunDir(candidate)
    known = sorted(p.name for p in output_root.glob("*/plan.json")) if output_root.is_dir() else []
    raise InputError(
        f"{output_root / run_id}: no sweep run with that id (plan.json missing){' ; runs: ' + ', '.join(known[-5:]) if known else ''}"
    )


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
