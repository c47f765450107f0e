"""The preflight report: typed records in, schema-valid JSON out (and back).

The report is the only place a verdict is made (``Report.verdict``); every reader takes it from here.
Fields a later 1.x report adds are carried through ``extra`` (top level and per check), never dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

from preflight_action import atomic
from preflight_action.preflight.gang_record import GangRecord
from preflight_action.preflight.inventory import Inventory
from preflight_action.vocab import (
    DEFAULT_LEVEL,
    BandName,
    CheckSource,
    CheckStatus,
    Level,
    ReportStatus,
    Unfinished,
    Verdict,
)

SCHEMA_NAME = "preflight_report"
# 1.1: remedy on checks and triage rows, node and os on triage rows, budget, interrupted_by, worker_restarts.
# 1.2: status "incomplete", verdict, a check's "unfinished" (why a required check never reached its end);
#      inventory (every importable distribution, the behaviour-changing environment, the platform facts).
#      optional "gang" (preflight-gang: the gang this node ran with, its members and figure).
SCHEMA_VERSION = "1.2"


@dataclass(frozen=True)
class Severity:
    score: int
    band: BandName


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: CheckStatus
    duration_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skip_reason: str | None = None
    severity: Severity | None = None
    source: CheckSource = "probe"
    remedy: str | None = None  # what to do about a failure's diagnosed cause (a command where one exists)
    unfinished: Unfinished | None = None  # a skip that is not a judgement: the run never let this check finish
    extra: dict[str, Any] | None = None  # fields of a later 1.x, carried as they were

    @classmethod
    def skipped(cls, check_id: str, reason: str, source: CheckSource = "probe", unfinished: Unfinished | None = None) -> CheckResult:
        return cls(check_id, "skip", skip_reason=reason, source=source, unfinished=unfinished)


@dataclass(frozen=True)
class TriageEntry:
    check_id: str
    score: int
    band: BandName
    backend: str
    error: str
    action: str  # the band's general rule (policy)
    blocking: bool
    remedy: str | None = None  # this failure's own next step
    node: str | None = None  # where it failed: host node_id
    os: str | None = None  # ... and OS distribution and version
    cause: str | None = None  # 1.2: the check whose finding this row shares (None: its own)


@dataclass(frozen=True)
class Triage:
    top_failed_checks: list[TriageEntry]
    by_backend: dict[str, list[str]]
    highest_band: BandName | None
    blocking: bool
    blocking_checks: list[str]

    @property
    def causes(self) -> list[list[TriageEntry]]:
        """The failures grouped by root cause, worst first: one finding each, its checks in rank order."""
        groups: dict[str, list[TriageEntry]] = {}
        for entry in self.top_failed_checks:
            groups.setdefault(entry.cause or entry.check_id, []).append(entry)
        return list(groups.values())


@dataclass(frozen=True)
class Tool:
    name: str
    version: str


@dataclass(frozen=True)
class RunOptions:
    """What the run was asked to do, as the report records it."""

    check_torchvision: bool
    check_compile: bool
    strict: bool
    strict_threshold: BandName
    check_timeout_s: float
    policy: str
    level: Level = DEFAULT_LEVEL
    budget_s: float | None = None


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str | None
    source: str  # "--python" or "sys.executable"


@dataclass(frozen=True)
class Host:
    node_id: str
    hostname: str
    os: str
    arch: str
    runner_name: str | None = None
    runner_os: str | None = None
    runner_arch: str | None = None


@dataclass(frozen=True)
class BudgetRecord:
    budget_s: float | None
    spent_s: float
    cut_short: list[str]


@dataclass(frozen=True)
class WorkerRestart:
    after_check: str
    before_check: str
    cause: str
    torch_imported: bool
    restart_ms: float
    error: str | None = None


@dataclass(frozen=True)
class Fingerprint:
    payload: dict[str, Any]
    sha256: str


@dataclass(frozen=True)
class Report:
    tool: Tool
    started_at: str
    finished_at: str
    duration_ms: float
    requested_device: str
    resolved_device: str | None
    backend: str | None
    options: RunOptions
    interpreter: Interpreter
    host: Host
    ci: dict[str, str | None] | None  # the GitHub Actions run's identity (ci.ci_context), None elsewhere
    checks: list[CheckResult]
    env_fingerprint: Fingerprint
    triage: Triage
    simulated: bool = False
    budget: BudgetRecord | None = None
    interrupted_by: str | None = None  # SIGINT / SIGTERM: the report is partial
    worker_restarts: list[WorkerRestart] = field(default_factory=list)
    inventory: Inventory | None = None  # what ran (preflight/inventory.py); None in reports written before it
    gang: GangRecord | None = None  # preflight-gang's gang (the summary and the matrix group reports by its id)
    schema_version: str = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # fields of a later 1.x, carried as they were

    def count(self, status: CheckStatus) -> int:
        return sum(1 for check in self.checks if check.status == status)

    def check(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def unfinished(self) -> list[CheckResult]:
        """The checks the level required that never reached their end (interrupted, cut by the budget, never reached)."""
        return [c for c in self.checks if c.unfinished is not None]

    @property
    def complete(self) -> bool:
        return not self.unfinished and self.interrupted_by is None

    @property
    def status(self) -> ReportStatus:
        """fail when a check failed, else incomplete when the run did not finish, else pass."""
        if self.count("fail"):
            return "fail"
        return "pass" if self.complete else "incomplete"

    @property
    def verdict(self) -> Verdict:
        """blocking (a finding at or above the threshold), else not_judged (unfinished or simulated), else healthy."""
        if self.triage.blocking and not self.simulated:
            return "blocking"
        if self.simulated or not self.complete:
            return "not_judged"
        return "healthy"

    @property
    def ok(self) -> bool:
        """True only when the verdict is healthy: every required check ran to its end and nothing blocking failed."""
        return self.verdict == "healthy"

    def to_dict(self) -> dict[str, Any]:
        document = asdict(replace(self, inventory=None))  # the inventory is JSON already: no deep copy of it
        extra = document.pop("extra")
        for check in document["checks"]:
            check_extra = check.pop("extra")
            if check["unfinished"] is None:
                del check["unfinished"]
            if check_extra:
                check.update({k: v for k, v in check_extra.items() if k not in check})
        if document["budget"] is None:
            del document["budget"]
        if document["interrupted_by"] is None:
            del document["interrupted_by"]
        if document["gang"] is None:
            del document["gang"]
        for restart in document["worker_restarts"]:
            if restart["error"] is None:
                del restart["error"]
        if self.inventory is None:
            del document["inventory"]
        else:
            document["inventory"] = self.inventory.to_dict()
        for row in document["triage"]["top_failed_checks"]:
            if row["cause"] is None:
                del row["cause"]
        document.update(
            status=self.status,
            verdict=self.verdict,
            pass_count=self.count("pass"),
            fail_count=self.count("fail"),
            skip_count=self.count("skip"),
        )
        document.update({k: v for k, v in extra.items() if k not in document})
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Report:
        """Rebuild a report from schema-valid JSON (validate first); fields a later 1.x added are kept in ``extra``."""
        interrupted = document.get("interrupted_by")
        checks = [_check_from_dict(c, interrupted) for c in document["checks"]]
        tri = document["triage"]
        triage = Triage(
            top_failed_checks=[TriageEntry(**_known(TriageEntry, t)) for t in tri["top_failed_checks"]],
            by_backend={k: list(v) for k, v in tri["by_backend"].items()},
            highest_band=tri["highest_band"],
            blocking=tri["blocking"],
            blocking_checks=list(tri["blocking_checks"]),
        )
        budget = document.get("budget")
        gang = document.get("gang")
        return cls(
            tool=Tool(**_known(Tool, document["tool"])),
            started_at=document["started_at"],
            finished_at=document["finished_at"],
            duration_ms=document["duration_ms"],
            requested_device=document["requested_device"],
            resolved_device=document["resolved_device"],
            backend=document["backend"],
            options=RunOptions(**_known(RunOptions, document["options"])),
            interpreter=Interpreter(**_known(Interpreter, document["interpreter"])),
            host=Host(**_known(Host, document["host"])),
            ci=document["ci"],
            checks=checks,
            env_fingerprint=Fingerprint(**_known(Fingerprint, document["env_fingerprint"])),
            triage=triage,
            simulated=document["simulated"],
            budget=BudgetRecord(**_known(BudgetRecord, budget)) if budget is not None else None,
            interrupted_by=interrupted,
            worker_restarts=[WorkerRestart(**_known(WorkerRestart, r)) for r in document.get("worker_restarts", ())],
            inventory=Inventory(document["inventory"]) if "inventory" in document else None,
            gang=GangRecord.from_dict(gang) if gang is not None else None,
            schema_version=document["schema_version"],
            extra={k: v for k, v in document.items() if k not in _REPORT_KEYS},
        )


# Written by to_dict from the typed fields (derived on read, never trusted from the file).
_DERIVED = frozenset({"status", "verdict", "pass_count", "fail_count", "skip_count"})
_REPORT_KEYS = frozenset(f.name for f in fields(Report)) | _DERIVED

# Reading 10,000 reports builds 220,000 checks; a frozen dataclass's __init__ (one object.__setattr__ per
# field) was the largest single cost of ``summarize``. A check whose fields are all named is built by
# filling its instance dict directly: the same object (fields, defaults, equality, hash, frozenness).
_CHECK_FIELDS = {f.name: f for f in fields(CheckResult)}
_CHECK_DEFAULTS = {name: f.default for name, f in _CHECK_FIELDS.items() if f.default is not MISSING}
_CHECK_REQUIRED = frozenset(name for name, f in _CHECK_FIELDS.items() if f.default is MISSING and f.default_factory is MISSING)

# How a 1.0/1.1 report (which has no "unfinished") says a check never finished.
_LEGACY_BUDGET_RAN_OUT = "ran out before this check could start"
_LEGACY_NOT_RUN = "not run: the run was interrupted by "


def _legacy_unfinished(values: dict[str, Any], interrupted: str | None) -> Unfinished | None:
    if values["status"] != "skip":
        return None
    if (values.get("details") or {}).get("budget_cut"):
        return "budget_cut"
    reason = values.get("skip_reason") or ""
    if _LEGACY_BUDGET_RAN_OUT in reason:
        return "budget_exhausted"
    if interrupted and reason.startswith(_LEGACY_NOT_RUN):
        return "interrupted"
    return None


def _check_from_dict(document: dict[str, Any], interrupted: str | None = None) -> CheckResult:
    known = _known(CheckResult, document)
    extra = {k: v for k, v in document.items() if k not in _CHECK_FIELDS} if known is not document else None
    severity = known.get("severity")
    if severity is not None:
        known = {**known, "severity": Severity(**_known(Severity, severity))}
    if not known.keys() >= _CHECK_REQUIRED:
        return CheckResult(**known)  # the dataclass's own error for a missing field
    values = {**_CHECK_DEFAULTS, **known, "extra": extra or None}
    if "details" not in known:
        values["details"] = {}
    if "unfinished" not in known:
        values["unfinished"] = _legacy_unfinished(values, interrupted)
    check = object.__new__(CheckResult)
    object.__setattr__(check, "__dict__", values)
    return check


def _known(record: type, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as keyword arguments for ``record``; keys a later 1.x added are dropped here (and kept by the caller)."""
    names = record.__dataclass_fields__  # type: ignore[attr-defined]
    if document.keys() <= names.keys():  # the common case costs no copy
        return document
    return {k: v for k, v in document.items() if k in names}


def fingerprint(payload: dict[str, Any]) -> Fingerprint:
    """The payload and a sha256 over its canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return Fingerprint(payload, hashlib.sha256(canonical.encode("utf-8")).hexdigest())


def write(report: Report | dict[str, Any], path: str | Path) -> Path:
    """Validate, then write atomically: an invalid report is a bug and is never written."""
    from preflight_action import schemas  # jsonschema loads late so the probe's torch import overlaps it

    document = report.to_dict() if isinstance(report, Report) else report
    schemas.validate(document, SCHEMA_NAME, f"report for {path}")
    return atomic.write_json(path, document)


def read(path: str | Path) -> Report:
    """Read and validate a report file."""
    from preflight_action import schemas

    return Report.from_dict(cast("dict[str, Any]", schemas.read_json(path, SCHEMA_NAME)))
