"""GitHub annotations for failed checks: ``::error::`` / ``::warning::`` workflow commands.

GitHub shows at most 10 error and 10 warning annotations per step (and 50 per
job), so we emit one per failed check id across the matrix, worst first, and
when there are more, the last line of each kind says how many were left out.
Escaping follows GitHub's workflow-command rules: in the message ``%``, CR and
LF are percent-encoded; in property values ``:`` and ``,`` as well.
"""

from __future__ import annotations

from preflight_action.summary.model import FailedCheck, Summary

MAX_PER_KIND = 10


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, title: str | None = None) -> str:
    """One workflow command line, e.g. ``::error title=T::message``."""
    props = f" title={escape_property(title)}" if title else ""
    return f"::{kind}{props}::{escape_data(message)}"


def _message(failed: FailedCheck, total: int) -> str:
    where = ", ".join(failed.backends)
    head = f"{failed.check_id} failed in {failed.reports} of {total} report{'s' if total != 1 else ''} ({where})"
    return f"{head}: {failed.error}\n{failed.action}" if failed.error else f"{head}\n{failed.action}"


def lines(summary: Summary, cap: int = MAX_PER_KIND) -> list[str]:
    """Annotation lines: blocking failures as errors; other failures, invalid inputs and stale reports as warnings."""
    total = summary.counts["reports"]
    errors = [(f"preflight {f.worst_band}: {f.check_id}", _message(f, total)) for f in summary.top_failed if f.blocking]
    warnings = [(f"preflight {f.worst_band}: {f.check_id}", _message(f, total)) for f in summary.top_failed if not f.blocking]
    warnings += [("preflight: invalid input", f"{i.path}: {i.reason}") for i in summary.invalid]
    stale = summary.counts["stale"]
    if stale:
        warnings.append(
            ("preflight: stale reports", f"{stale} report{'s are' if stale != 1 else ' is'} older than {summary.freshness_hours:g} h")
        )
    return _capped("error", errors, cap) + _capped("warning", warnings, cap)


def _capped(kind: str, items: list[tuple[str, str]], cap: int) -> list[str]:
    if len(items) <= cap:
        return [command(kind, message, title) for title, message in items]
    shown = [command(kind, message, title) for title, message in items[: cap - 1]]
    rest = len(items) - (cap - 1)
    shown.append(command(kind, f"{rest} more {kind}s not annotated (GitHub shows {cap} per step); see the job summary", "preflight: more"))
    return shown
