"""``--output-junit``: the report as JUnit XML, one testcase per check, for GitLab, Jenkins, Buildkite and test-report actions."""

from __future__ import annotations

import re
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from preflight_action import atomic
from preflight_action.exports.labels import identity, remedy
from preflight_action.preflight.report import CheckResult, Report, TriageEntry

CLASSNAME = "runtime-preflight"
MESSAGE_LIMIT = 300
# XML 1.0 forbids most control characters; a worker's stderr (ANSI colours, NULs) must not break the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _first_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"


def _failure(check: CheckResult, entry: TriageEntry | None) -> Failure:
    error = _clean(check.error or "failed without an error message")
    band = check.severity.band if check.severity else "unscored"
    failure = Failure(_first_line(error), type_=band)
    lines = [error, ""]
    if check.severity:
        blocking = "yes" if entry and entry.blocking else "no"
        lines.append(f"severity: {band} (score {check.severity.score}), blocking: {blocking}")
    if entry and entry.action:
        lines.append(f"action: {_clean(entry.action)}")
    fix = remedy(check)
    if fix:
        lines.append(f"remedy: {_clean(fix)}")
    failure.text = "\n".join(lines).strip() + "\n"
    return failure


def _unfinished(check: CheckResult) -> Error:
    """A required check that never reached its end: an error (the test could not run), so a not-judged run never reads as green."""
    error = Error(
        f"not judged: {_first_line(_clean(check.skip_reason or 'the check did not finish'))}", type_=f"not_judged.{check.unfinished}"
    )
    error.text = (
        f"{_clean(check.skip_reason or '')}\n\nThe level requires this check and it never finished ({check.unfinished}): "
        "the report's verdict is not judged, which is not a pass.\n"
    )
    return error


def build(report: Report) -> JUnitXml:
    """One testsuite for the report; a simulated run's passes are skipped and an unfinished check is an error, never a pass."""
    ident = identity(report)
    entries = {entry.check_id: entry for entry in report.triage.top_failed_checks}
    suite = TestSuite(f"runtime-preflight {ident.node} {ident.device} {ident.level}")
    suite.hostname = ident.node
    suite.timestamp = report.started_at
    for name, value in (
        ("node", ident.node),
        ("device", ident.device),
        ("backend", ident.backend),
        ("level", ident.level),
        ("verdict", report.verdict),
        ("status", report.status),
        ("highest_band", report.triage.highest_band or "none"),
        ("simulated", str(report.simulated).lower()),
        ("tool_version", report.tool.version),
        ("report_schema_version", report.schema_version),
    ):
        suite.add_property(name, value)
    for check in report.checks:
        case = TestCase(check.id, classname=CLASSNAME, time=round(max(check.duration_ms, 0.0) / 1000.0, 6))
        if check.status == "fail":
            case.result = [_failure(check, entries.get(check.id))]
        elif check.unfinished is not None:
            case.result = [_unfinished(check)]
        elif check.status == "skip":
            case.result = [Skipped(_first_line(_clean(check.skip_reason or "skipped without a reason")))]
        elif report.simulated:
            case.result = [Skipped("simulated run: not a real pass")]
        suite.add_testcase(case)
    suite.update_statistics()  # type: ignore[no-untyped-call]
    xml = JUnitXml("runtime-preflight")
    xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    return xml


def render(report: Report) -> str:
    xml = build(report)
    body = xml.tostring()  # type: ignore[no-untyped-call]
    text = body.decode("utf-8") if isinstance(body, bytes) else str(body)
    if not text.startswith("<?xml"):
        text = '<?xml version="1.0" encoding="utf-8"?>\n' + text
    return text if text.endswith("\n") else text + "\n"


def write(report: Report, path: str | Path) -> Path:
    return atomic.write_text(path, render(report))
