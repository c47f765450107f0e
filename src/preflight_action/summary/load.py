"""Loading the summary's inputs: glob the report files, read each through the report schema.

Inputs that cannot be read or fail the report schema are kept as ``InvalidInput``
entries (file + JSON pointer reason) and never stop the others; a summary JSON
caught by the glob is ignored, not merged. Every file goes through the hardened
reader (``documents``): reports may come from a fork's pull request.
"""

from __future__ import annotations

import gc
import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from preflight_action import documents, schemas
from preflight_action.diff.parts import Table
from preflight_action.errors import InputError
from preflight_action.host import from_the_future, future_skew_s
from preflight_action.preflight.report import SCHEMA_NAME as REPORT_SCHEMA
from preflight_action.preflight.report import Report

# Checks whose details carry figures the history keeps (``_slim`` drops every other check's details).
FIGURE_CHECKS = frozenset({"perf.matmul", "perf.bandwidth", "capabilities.detect"})
# capabilities.detect: only the facts the history keys on survive slimming.
CAPABILITY_FACTS = ("device_name", "torch_version", "cuda_driver_version")

KIND = "preflight-summary"  # a summary JSON among the inputs is recognised by this and skipped


@dataclass(frozen=True)
class InvalidInput:
    """A file matched by the glob that is not a usable report, and why."""

    path: str
    reason: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedReport:
    path: str
    report: Report
    inventory: dict[str, str] | None = None  # its inventory's parts by hash (diff.parts; the parts in Inputs.inventories)


@dataclass(frozen=True)
class Inputs:
    reports: tuple[LoadedReport, ...]
    invalid: tuple[InvalidInput, ...]
    ignored: tuple[InvalidInput, ...] = ()
    notes: tuple[str, ...] = ()  # one line per report whose control or bidi characters were escaped
    inventories: Table | None = None  # each distinct inventory part once (a fleet's reports share a few)


def expand(patterns: Iterable[str], exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Files matched by the glob patterns (``**`` recurses), sorted, without ``exclude`` (our own outputs)."""
    skip = {os.path.realpath(p) for p in exclude}
    skip_names = {os.path.basename(p) for p in skip}
    found: dict[str, Path] = {}
    for pattern in patterns:
        for name in glob.glob(pattern, recursive=True):
            absolute = os.path.abspath(name)
            if absolute in found or not os.path.isfile(name):
                continue
            # realpath costs a stat per path component: only for names that could be one of our outputs
            if os.path.basename(name) in skip_names and os.path.realpath(name) in skip:
                continue
            found[absolute] = Path(name)
    return sorted(found.values(), key=str)


def load_reports(paths: Iterable[Path]) -> Inputs:
    """Read and validate every report; a bad one becomes an InvalidInput, never an exception."""
    reports: list[LoadedReport] = []
    invalid: list[InvalidInput] = []
    ignored: list[InvalidInput] = []
    notes: list[str] = []
    table = Table()
    skew, now = future_skew_s(), datetime.now(timezone.utc)
    collecting = gc.isenabled()
    gc.disable()  # parsed JSON holds no cycles; a full collection per 700 allocations made 10k reports quadratic
    try:
        for path in paths:
            name = str(path)
            try:
                parsed = documents.read(name, scrub=False)  # what summarize publishes is scrubbed as written
            except InputError as error:
                invalid.append(InvalidInput(name, _without_prefix(str(error), name)))
                continue
            document = parsed.value
            if isinstance(document, dict) and document.get("kind") == KIND:
                ignored.append(InvalidInput(name, "a preflight summary, not a report"))
                continue
            found = schemas.problems(document, REPORT_SCHEMA)
            newer = schemas.newer_major(document, REPORT_SCHEMA)
            if newer:  # its fields may differ in any way: the version is what to say
                invalid.append(InvalidInput(name, newer, tuple(found)))
                continue
            if found:
                shown = "; ".join(found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "")
                invalid.append(InvalidInput(name, f"does not match the {REPORT_SCHEMA} schema: {shown}", tuple(found)))
                continue
            ahead = from_the_future(document["finished_at"], "/finished_at", name, skew, now)
            if ahead:  # it would count as the node's latest and freshest until that date
                invalid.append(InvalidInput(name, _without_prefix(ahead, name)))
                continue
            if parsed.note:
                notes.append(parsed.note)
            refs = table.add_document(document)  # before slimming: the inventory leaves the report here
            reports.append(LoadedReport(name, Report.from_dict(_slim(document)), refs))
    finally:
        if collecting:
            gc.enable()
    return Inputs(tuple(reports), tuple(invalid), tuple(ignored), tuple(notes), table)


def _slim(document: dict[str, Any]) -> dict[str, Any]:
    """Drop what no summary shows (fingerprint payload, check details), in place: 10k reports stay small.

    The perf figures and the facts the history keys on (SKU, torch, driver) are kept.
    """
    document["env_fingerprint"]["payload"] = {}
    document.pop("inventory", None)  # kept once per distinct part in Inputs.inventories
    for check in document["checks"]:
        if check["id"] not in FIGURE_CHECKS:
            check["details"] = {}
        elif check["id"] == "capabilities.detect":
            details = check["details"]
            check["details"] = {k: details[k] for k in CAPABILITY_FACTS if k in details}
        else:
            check["details"] = {"figures": check["details"].get("figures") or {}}
    return document


def _without_prefix(message: str, path: str) -> str:
    return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message
