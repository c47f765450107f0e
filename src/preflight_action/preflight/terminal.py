"""The report as a table on the terminal: colour on a TTY, plain text in CI logs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from preflight_action.preflight.describe import words
from preflight_action.preflight.report import CheckResult, Report
from preflight_action.preflight.run import Progress, Starting
from preflight_action.templating import duration

STYLE = {"pass": "green", "fail": "bold red", "skip": "yellow", "incomplete": "bold yellow"}
BAND_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": ""}
REMEDY_ROWS = 5  # the terminal shows the first few remedies; every one is in the JSON and the Markdown/HTML reports


def console(stderr: bool = False) -> Console:
    """Rich decides colour from the stream, NO_COLOR and FORCE_COLOR; CI logs get a wide table."""
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(stderr=stderr, highlight=False, width=160)
    return out


def progress_line(check: CheckResult, index: int, total: int) -> Text:
    text = Text(f"[{index}/{total}] ")
    text.append(f"{check.status:<4}", style=STYLE[check.status])
    text.append(f" {check.id} ({duration(check.duration_ms)})")
    return text


def table(report: Report) -> Table:
    grid = Table(title=f"preflight: {report.requested_device} -> {report.resolved_device or 'unresolved'}", title_justify="left")
    grid.add_column("status")
    grid.add_column("check")
    grid.add_column("time", justify="right")
    grid.add_column("severity")
    grid.add_column("details", overflow="fold")
    for check in report.checks:
        severity = f"{check.severity.band} {check.severity.score}" if check.severity else ""
        grid.add_row(
            Text(check.status, style=STYLE[check.status]),
            check.id,
            duration(check.duration_ms),
            severity,
            words(check),
        )
    return grid


def verdict(report: Report, exit_code: int) -> Text:
    counts = f"{report.count('pass')} passed, {report.count('fail')} failed, {report.count('skip')} skipped"
    text = Text()
    text.append(report.status.upper(), style=STYLE[report.status])
    text.append(f"  {counts} in {duration(report.duration_ms)} (interpreter {report.interpreter.path})")
    if report.triage.top_failed_checks:
        top = report.triage.top_failed_checks[0]
        text.append(f"\ntop failure: {top.check_id} [{top.band} {top.score}] -> {top.action}")
        where = " / ".join(w for w in (top.node, top.os) if w)
        text.append(f"\nwhat to do{f' (on {where})' if where else ''}:")
        for entry in report.triage.top_failed_checks[:REMEDY_ROWS]:
            text.append(f"\n  {entry.check_id} [{entry.band} {entry.score}]: ", style=BAND_STYLE.get(entry.band, ""))
            text.append(entry.remedy or entry.action)
        hidden = len(report.triage.top_failed_checks) - REMEDY_ROWS
        if hidden > 0:
            text.append(f"\n  ... {hidden} more in the report")
    if report.unfinished or report.interrupted_by:
        why = f"interrupted by {report.interrupted_by}" if report.interrupted_by else "the budget or a check that never finished"
        text.append(f"\nnot judged: {len(report.unfinished)} required checks did not run to their end ({why})", style="bold yellow")
    if report.options.strict:
        gate = "blocks" if exit_code == 1 else "does not block"
        text.append(f"\nstrict (threshold {report.options.strict_threshold}): {gate}")
    return text


def show(report: Report, exit_code: int, out: Console | None = None) -> None:
    out = out or console()
    out.print(table(report))
    out.print(verdict(report, exit_code))


@contextlib.contextmanager
def live_progress() -> Iterator[tuple[Progress, Starting]]:
    """Progress on stderr: on a terminal a spinner names the check in flight (compile takes tens of seconds);
    CI logs get one plain line per finished check."""
    out = console(stderr=True)
    status = out.status("") if out.is_terminal else None

    def starting(check_id: str, index: int, total: int) -> None:
        if status is not None:
            status.update(f"[{index}/{total}] running {check_id}")
            status.start()

    def progress(result: CheckResult, index: int, total: int) -> None:
        if status is not None:
            status.stop()
        out.print(progress_line(result, index, total))

    try:
        yield progress, starting
    finally:
        if status is not None:
            status.stop()
