"""The report on the terminal, verdict first: colour on a TTY, plain text in CI logs.

Layout (README "Reading the terminal"): the verdict and its counts; the level, budget and device; what did
not finish; what to do, one cause at a time, each command on lines of its own that paste as one command;
the failed and passed checks one line each; the skipped ones folded into one line (``--verbose`` lists why).
Every line is laid out here to the console's width, so rich never wraps a command.
"""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from preflight_action.preflight import remedy_text
from preflight_action.preflight.describe import MEASURING, UNFINISHED_WORDS, budget_words, counts_words, plural, verdict_words, words
from preflight_action.preflight.report import CheckResult, Report, TriageEntry
from preflight_action.templating import duration

if TYPE_CHECKING:
    from preflight_action.preflight.session import Progress, Starting

STYLE = {"pass": "green", "fail": "bold red", "skip": "yellow", "incomplete": "bold yellow"}
VERDICT_STYLE = {"healthy": "bold green", "blocking": "bold red", "not_judged": "bold yellow"}
BAND_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": ""}
SLOW_MS = 1000.0  # a CI log's progress line for a check that took this long (a fast pass is in the report)
REMEDY_ROWS = 5  # the terminal shows the first few causes; every one is in the JSON and the Markdown/HTML reports


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


def _wrapped(text: str, width: int, indent: str = "", style: str = "", hang: str = "  ") -> list[Text]:
    """``text`` wrapped at spaces to ``width``, its later lines indented by ``hang`` more (a path or URL is never cut)."""
    body = textwrap.wrap(
        text, max(width, 20), initial_indent=indent, subsequent_indent=indent + hang, break_long_words=False, break_on_hyphens=False
    )
    return [Text(line, style=style) for line in body or [indent]]


def headline(report: Report, exit_code: int, width: int) -> list[Text]:
    """The verdict, the counts (failures as causes), then what the run was and where."""
    text = Text(verdict_words(report), style=VERDICT_STYLE[report.verdict])
    text.append(f"  {counts_words(report)} in {duration(report.duration_ms)}")
    lines = [text]
    if report.interrupted_by:
        lines += _wrapped(f"interrupted by {report.interrupted_by}: this report is partial, not a pass", width, style="bold yellow")
    elif report.simulated:
        lines += _wrapped("simulated: nothing was measured on a device", width, style="bold yellow")
    where = f"{budget_words(report)} · {report.requested_device} -> {report.resolved_device or 'unresolved'}"
    if report.options.strict:
        where += f" · strict (threshold {report.options.strict_threshold}): {'blocks' if exit_code == 1 else 'does not block'}"
    python = report.interpreter.version
    lines += _wrapped(where, width)
    lines += _wrapped(f"interpreter {report.interpreter.path}" + (f" (Python {python})" if python else ""), width)
    return lines


def unfinished(report: Report, width: int) -> list[Text]:
    """The checks the level required that never reached their end, said before anything that passed."""
    if not report.unfinished:
        return []
    lines = [Text(f"not finished ({len(report.unfinished)}): not judged, neither passed nor failed", style="bold yellow")]
    by_cause: dict[str, list[CheckResult]] = {}
    for check in report.unfinished:
        by_cause.setdefault(check.unfinished or "", []).append(check)
    for cause, checks in by_cause.items():
        if cause in ("budget_cut", "tool_error"):  # each has its own words: a cut's figures, what stopped the tool
            for check in checks:
                lines += _wrapped(f"{check.id}: {check.skip_reason}", width, "  ")
        else:
            ids = ", ".join(c.id for c in checks)
            lines += _wrapped(f"{UNFINISHED_WORDS.get(cause, cause)}: {ids}", width, "  ")
    return lines


def _cause_lines(index: int, group: list[TriageEntry], report: Report, width: int) -> list[Text]:
    lead = group[0]
    ids = ", ".join(e.check_id for e in group)
    head = Text(f"{index}. ")
    head.append(f"[{lead.band} {lead.score}]", style=BAND_STYLE.get(lead.band, ""))
    head.append(f" {ids}")
    lines = [head]
    check = report.check(lead.check_id)
    error = ((check.error if check else None) or lead.error).strip()
    lines += _wrapped(error.splitlines()[0] if error else "failed", width, "   ")
    remedy = lead.remedy or lead.action
    lines.append(Text("   do this:", style="bold"))
    lines += [Text(line, style="bold" if command else "") for line, command in remedy_text.lines(remedy, width, "   ", "    ")]
    if lead.remedy and lead.action:
        lines += _wrapped(f"policy for {lead.band}: {lead.action}", width, "   ", style="dim")
    return lines


def what_to_do(report: Report, width: int) -> list[Text]:
    """One block per cause, the finding's own remedy first and the band's policy action after it."""
    causes = report.triage.causes
    if not causes:
        return []
    top = causes[0][0]
    where = ", ".join(w for w in (top.node, top.os) if w)
    lines = [Text(f"what to do{f' (on {where})' if where else ''}:", style="bold")]
    for index, group in enumerate(causes[:REMEDY_ROWS], start=1):
        lines += _cause_lines(index, group, report, width)
    hidden = len(causes) - REMEDY_ROWS
    if hidden > 0:
        lines.append(Text(f"   ... {plural(hidden, 'more cause')} in the report"))
    return lines


def _row(check: CheckResult, id_width: int, width: int) -> list[Text]:
    """One check on one line (a measuring check's rule and figure wrap onto more rather than being cut)."""
    text = Text("  ")
    text.append(f"{check.status:<4}", style=STYLE[check.status])
    text.append(f"  {check.id:<{id_width}}  {duration(check.duration_ms):>7}  ")
    if check.severity:
        text.append(f"{check.severity.band} {check.severity.score}  ", style=BAND_STYLE.get(check.severity.band, ""))
    said = words(check)
    indent = len(text.plain)
    if check.id in MEASURING and indent + len(said) > width:
        first, *rest = textwrap.wrap(said, max(width - indent, 20), break_long_words=False) or [""]
        text.append(first)
        return [text, *(Text(" " * indent + line) for line in rest)]
    text.append(said)
    text.truncate(width, overflow="ellipsis")
    return [text]


def checks(report: Report, width: int, verbose: bool = False) -> list[Text]:
    """Failed, then passed checks one line each; skipped ones folded into one line (``verbose``: one each, with why)."""
    shown = [c for c in report.checks if c.status == "fail"] + [c for c in report.checks if c.status == "pass"]
    skipped = [c for c in report.checks if c.status == "skip" and c.unfinished is None]
    id_width = max((len(c.id) for c in report.checks), default=10)
    lines: list[Text] = []
    for check in shown:
        lines += _row(check, id_width, width)
    if not skipped:
        return lines
    if verbose:
        lines.append(Text(f"skipped ({len(skipped)}):", style=STYLE["skip"]))
        for check in skipped:
            lines += _wrapped(f"{check.id}: {check.skip_reason}", width, "  ")
        return lines
    folded = f"{len(skipped)} skipped: {', '.join(c.id for c in skipped)} (-v lists why)"
    return lines + _wrapped(folded, width, style=STYLE["skip"])


def render(report: Report, exit_code: int, width: int, verbose: bool = False) -> list[Text]:
    """Every line of the terminal report, each at most ``width`` wide (a command's one overlong argument excepted)."""
    lines = headline(report, exit_code, width)
    for section in (unfinished(report, width), what_to_do(report, width), checks(report, width, verbose)):
        if section:
            lines += [Text(""), *section]
    return lines


def show(report: Report, exit_code: int, out: Console | None = None, verbose: bool = False) -> None:
    out = out or console()
    for line in render(report, exit_code, out.width, verbose):
        out.print(line, soft_wrap=True)  # laid out to the width above: a terminal may soft-wrap, rich never breaks a line


@contextlib.contextmanager
def live_progress() -> Iterator[tuple[Progress, Starting]]:
    """Progress on stderr: on a terminal one transient line names the check in flight (the report follows);
    CI logs get a plain line for each check that did not pass or took a second or more (where the time went, or
    which check a hung run was in); the report lists every check after it."""
    out = console(stderr=True)
    status = out.status("") if out.is_terminal else None  # transient: the line goes when the report comes

    def starting(check_id: str, index: int, total: int) -> None:
        if status is not None:
            status.update(f"[{index}/{total}] running {check_id}")
            status.start()

    def progress(result: CheckResult, index: int, total: int) -> None:
        if status is not None:
            if result.status == "fail":  # a failure is worth a line of its own while the run goes on
                status.console.print(progress_line(result, index, total))
            return
        if result.status == "fail" or result.unfinished or result.duration_ms >= SLOW_MS:
            out.print(progress_line(result, index, total))

    try:
        yield progress, starting
    finally:
        if status is not None:
            status.stop()
