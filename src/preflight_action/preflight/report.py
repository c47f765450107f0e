"""The preflight report: typed records in, schema-valid JSON out (and back)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from preflight_action import atomic

SCHEMA_NAME = "preflight_report"
SCHEMA_VERSION = "1.1"  # 1.1: remedy on checks and triage rows, node and os on triage rows


@dataclass(frozen=True)
class Severity:
    score: int
    band: str


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: str  # pass | fail | skip
    duration_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skip_reason: str | None = None
    severity: Severity | None = None
    source: str = "probe"  # probe | host
    remedy: str | None = None  # what to do about a failure's diagnosed cause (a command where one exists)

    @classmethod
    def skipped(cls, check_id: str, reason: str, source: str = "probe") -> CheckResult:
        return cls(check_id, "skip", skip_reason=reason, source=source)


@dataclass(frozen=True)
class TriageEntry:
    check_id: str
    score: int
    band: str
    backend: str
    error: str
    action: str  # the band's general rule (policy)
    blocking: bool
    remedy: str | None = None  # this failure's own next step
    node: str | None = None  # where it failed: host node_id
    os: str | None = None  # ... and OS distribution and version


@dataclass(frozen=True)
class Triage:
    top_failed_checks: list[TriageEntry]
    by_backend: dict[str, list[str]]
    highest_band: str | None
    blocking: bool
    blocking_checks: list[str]


@dataclass(frozen=True)
class Report:
    tool: dict[str, str]
    started_at: str
    finished_at: str
    duration_ms: float
    requested_device: str
    resolved_device: str | None
    backend: str | None
    options: dict[str, Any]
    interpreter: dict[str, Any]
    host: dict[str, Any]
    ci: dict[str, Any] | None
    checks: list[CheckResult]
    env_fingerprint: dict[str, Any]
    triage: Triage
    simulated: bool = False
    schema_version: str = SCHEMA_VERSION

    def count(self, status: str) -> int:
        return sum(1 for check in self.checks if check.status == status)

    @property
    def status(self) -> str:
        return "fail" if self.count("fail") else "pass"

    def check(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document.update(
            status=self.status,
            pass_count=self.count("pass"),
            fail_count=self.count("fail"),
            skip_count=self.count("skip"),
        )
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Report:
        """Rebuild a report from schema-valid JSON (validate first); fields a later 1.x added are ignored."""
        checks = [_check_from_dict(c) for c in document["checks"]]
        tri = document["triage"]
        triage = Triage(
            top_failed_checks=[TriageEntry(**_known(TriageEntry, t)) for t in tri["top_failed_checks"]],
            by_backend={k: list(v) for k, v in tri["by_backend"].items()},
            highest_band=tri["highest_band"],
            blocking=tri["blocking"],
            blocking_checks=list(tri["blocking_checks"]),
        )
        fields = {k: v for k, v in _known(cls, document).items() if k not in ("checks", "triage")}
        return cls(checks=checks, triage=triage, **fields)


# Reading 10,000 reports builds 220,000 checks; a frozen dataclass's __init__ (one object.__setattr__ per
# field) was the largest single cost of ``summarize``. A check whose fields are all named is built by
# filling its instance dict directly: the same object (fields, defaults, equality, hash, frozenness).
_CHECK_FIELDS = {f.name: f for f in fields(CheckResult)}
_CHECK_DEFAULTS = {name: f.default for name, f in _CHECK_FIELDS.items() if f.default is not MISSING}
_CHECK_REQUIRED = frozenset(name for name, f in _CHECK_FIELDS.items() if f.default is MISSING and f.default_factory is MISSING)


def _check_from_dict(document: dict[str, Any]) -> CheckResult:
    fields = _known(CheckResult, document)
    severity = fields.get("severity")
    if severity is not None:
        fields = {**fields, "severity": Severity(**_known(Severity, severity))}
    if not fields.keys() >= _CHECK_REQUIRED:
        return CheckResult(**fields)  # the dataclass's own error for a missing field
    values = {**_CHECK_DEFAULTS, **fields}
    if "details" not in fields:
        values["details"] = {}
    check = object.__new__(CheckResult)
    object.__setattr__(check, "__dict__", values)
    return check


def _known(record: type, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as keyword arguments for ``record``; keys a later 1.x added are dropped."""
    names = record.__dataclass_fields__  # type: ignore[attr-defined]
    if document.keys() <= names.keys():  # the common case costs no copy
        return document
    return {k: v for k, v in document.items() if k in names}


def fingerprint(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload and a sha256 over its canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return {"payload": payload, "sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest()}


def write(report_document: dict[str, Any], path: str | Path) -> Path:
    """Validate, then write atomically: an invalid report is a bug and is never written."""
    from preflight_action import schemas  # jsonschema loads late so the probe's torch import overlaps it

    schemas.validate(report_document, SCHEMA_NAME, f"report for {path}")
    return atomic.write_json(path, report_document)


def read(path: str | Path) -> Report:
    """Read and validate a report file."""
    from preflight_action import schemas

    return Report.from_dict(schemas.read_json(path, SCHEMA_NAME))
