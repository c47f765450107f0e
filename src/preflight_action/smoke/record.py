"""The smoke run record (``smoke_run.json``): outcome rules, schema-checked write and read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from preflight_action import atomic, redact

SCHEMA_NAME = "smoke_run"
SCHEMA_VERSION = "1.0"
RECORD_NAME = "smoke_run.json"
# Run outcomes; only "pass" is a real pass. Exit code 1 for these:
FAILING = ("fail", "timeout", "aborted")


def run_outcome(mode: str, cases: list[dict[str, Any]], timed_out: bool, aborted: bool) -> str:
    """pass | fail | skipped | simulated | timeout | aborted; simulated and stub runs never pass."""
    outcomes = {case["outcome"] for case in cases}
    if aborted:
        return "aborted"
    if timed_out:
        return "timeout"
    if "fail" in outcomes:
        return "fail"
    if mode == "simulated":
        return "simulated"
    if mode == "real" and "pass" in outcomes:
        return "pass"
    return "skipped"


def exit_code(outcome: str, require_real: bool) -> int:
    if outcome in FAILING:
        return 1
    return 1 if require_real and outcome != "pass" else 0


def write(document: dict[str, Any], run_dir: Path) -> Path:
    """Scrub secrets, validate, write atomically; an invalid record is a bug and is never written."""
    from preflight_action import schemas

    clean = redact.scrub(document, redact.secret_values())
    path = run_dir / RECORD_NAME
    schemas.validate(clean, SCHEMA_NAME, f"smoke record for {path}")
    return atomic.write_json(path, clean)


def read(path: str | Path) -> dict[str, Any]:
    from preflight_action import schemas

    document: dict[str, Any] = schemas.read_json(path, SCHEMA_NAME)
    return document
